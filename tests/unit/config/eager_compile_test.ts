/**
 * The start-up convention of the config code (README, Layout: `src/config/`): every top-level function of the modules
 * `check-config` and `serve` run before `serve` listens is a parenthesized function expression, `(function name(…) {…})
 * .bind(null)`. V8 compiles such a function while the module loads, so Deno's code cache holds it; a function
 * declaration is compiled at its first call, on every run (7–9 ms of `check-config`: bench/README.md).
 *
 * The first test keeps the source to the convention; the second checks that it works: Deno's TypeScript emit keeps
 * the parentheses (`.bind(null)` is what keeps them: a bare `(function …)` loses them) and V8 compiles none of those
 * functions lazily during a real `check-config` (V8's function events log).
 */
import { assert, assertEquals } from "../../support/assert.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
/**
 * The modules of the convention: the config code, the helpers it calls (IP networks, globs, paths, CA limits), and
 * what `check-config` and `serve` run besides it before `serve` listens.
 */
const EAGER_FILES = [
  ...[...Deno.readDirSync(`${ROOT}src/config`)].map((e) => `src/config/${e.name}`),
  ...[...Deno.readDirSync(`${ROOT}src/config/sections`)].map((e) => `src/config/sections/${e.name}`),
  "cli/check_config.ts",
  "cli/serve.ts",
  "src/ca/ledger_config.ts",
  "src/ca/limits.ts",
  "src/lib/glob.ts",
  "src/lib/ip.ts",
  "src/lib/path.ts",
  "src/server/listeners.ts",
].filter((f) => f.endsWith(".ts")).sort();

/** Top-level function declarations, as `file:line name`. */
function declarations(file: string): string[] {
  const lines = Deno.readTextFileSync(`${ROOT}${file}`).split("\n");
  return lines.flatMap((line, i) => {
    const m = /^(?:export )?(?:async )?function\*? ?(\w+)/.exec(line);
    return m ? [`${file}:${i + 1} ${m[1]}`] : [];
  });
}

/** Names of the top-level eager functions of `file`. */
function eagerNames(file: string): string[] {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  return [...text.matchAll(/^(?:export )?const (\w+) = \((?:async )?function\*? ?(\w+)/gm)].map((m) => m[2]);
}

Deno.test("config start-up: no top-level function declaration in the eagerly compiled modules", () => {
  const found = EAGER_FILES.flatMap(declarations);
  assertEquals(
    found,
    [],
    "write these as `const name = (function name(…) {…}).bind(null);` so V8 compiles them while the module loads " +
      "and Deno's code cache keeps them (README, Layout: src/config/)",
  );
});

Deno.test("config start-up: check-config compiles none of the eager functions lazily", async () => {
  const names = new Set(EAGER_FILES.flatMap(eagerNames));
  assert(names.size > 50, `only ${names.size} eager functions found: has the convention's shape changed?`);
  const dir = await Deno.makeTempDir({ prefix: "acmems-eager-" });
  try {
    const log = `${dir}/v8.log`;
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `--v8-flags=--log-function-events,--logfile=${log},--no-logfile-per-isolate`,
        `${ROOT}main.ts`,
        "check-config",
        `${ROOT}configs/acmems.example.ini`,
      ],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(run.code, 0, new TextDecoder().decode(run.stderr));
    const scripts = new Map<string, string>();
    const lazy = new Set<string>();
    let lazyOthers = 0;
    for (const line of Deno.readTextFileSync(log).split("\n")) {
      const f = line.split(",");
      if (f[0] === "script-details") scripts.set(f[1], f[2]);
      if (f[0] !== "function") continue;
      const file = (scripts.get(f[2]) ?? "").replace(`file://${ROOT}`, "");
      // A lazily compiled function is parsed again at its first call ("parse-function").
      if (!EAGER_FILES.includes(file) || f[1] !== "parse-function") continue;
      if (names.has(f[7])) lazy.add(`${file} ${f[7]}`);
      else lazyOthers++; // closures and methods, outside the convention
    }
    // The log does show lazy compilation in these files (of closures and methods): a change of its format would not
    // pass for an empty result.
    assert(lazyOthers > 0, "no lazy compilation logged at all in the config modules: is the log format the same?");
    assertEquals([...lazy].sort(), [], "compiled at first call, not while the module loaded");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
