/**
 * `deno task bundle` moves deno bundle's `require` shim (node:module) out of the shared runtime chunk
 * (scripts/bundle_lazy_require.ts): a command of the bundle loads Node compatibility only with the CommonJS code that
 * needs it (dns-packet), and that code still works.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { DEFERRED, deferRequire, PROVIDER, SHIM } from "../../../scripts/bundle_lazy_require.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

Deno.test("bundle_lazy_require: the shim moves from the runtime chunk to the chunks that call __require", () => {
  const files = new Map([
    [
      "chunk-runtime.js",
      `var __create = Object.create;\n${SHIM}var __commonJS = (cb, mod) => function __require2() {};\n`,
    ],
    ["cjs.js", `import { __commonJS, __require } from "./chunk-runtime.js";\nvar b = __require("node:buffer");\n`],
    ["esm.js", `import { __export } from "./chunk-runtime.js";\nexport const x = 1;\n`],
  ]);
  const changed = deferRequire(files);
  assertEquals([...changed.keys()].sort(), ["chunk-runtime.js", "cjs.js"]);
  assert(!changed.get("chunk-runtime.js")!.includes("node:module"));
  assert(changed.get("chunk-runtime.js")!.includes(DEFERRED));
  assertEquals(changed.get("cjs.js"), PROVIDER + files.get("cjs.js"));
  // Idempotent.
  assertEquals(deferRequire(new Map([...files, ...changed])).size, 0);
});

/** Relative static imports and node: imports of `file`, transitively (what loads before its first line runs). */
async function staticImports(dir: string, file: string, seen = new Set<string>()): Promise<Set<string>> {
  const text = await Deno.readTextFile(`${dir}/${file}`);
  for (const [, spec] of text.matchAll(/^\s*import\b[^;]*?\bfrom\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm)) {
    if (!spec || seen.has(spec)) continue;
    seen.add(spec);
    if (spec.startsWith("./")) await staticImports(dir, spec.slice(2), seen);
  }
  return seen;
}

Deno.test("deno task bundle: no command loads node:module unless it runs CommonJS code, which still works", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<string, string>;
  assert(tasks.bundle.includes("scripts/bundle_lazy_require.ts dist"), "the bundle task runs the post-processing");
  const dir = await Deno.makeTempDir({ prefix: "acmems-bundle-require-" });
  try {
    const deno = (args: string[], cwd = ROOT) =>
      new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
    const built = await deno(["bundle", "--platform=deno", "--code-splitting", "--outdir", dir, "main.ts"]);
    assert(built.success, new TextDecoder().decode(built.stderr));
    const moved = await deno([
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "scripts/bundle_lazy_require.ts",
      dir,
    ]);
    assert(moved.success, new TextDecoder().decode(moved.stderr));
    assert(!(await staticImports(dir, "main.js")).has("node:module"), "main.js loads node:module");
    const version = await deno(["run", "-A", "--quiet", `${dir}/main.js`, "--version"], dir);
    assert(version.success, new TextDecoder().decode(version.stderr));
    // The chunks that call require (dns-packet) load node:module themselves, and work.
    const users: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if ((await Deno.readTextFile(`${dir}/${entry.name}`)).startsWith(PROVIDER)) users.push(entry.name);
    }
    let dnsPacket = 0;
    for (const user of users) {
      const packet = (await import(`file://${dir}/${user}`)).default;
      if (typeof packet?.encode !== "function") continue;
      const query = packet.encode({ type: "query", id: 7, questions: [{ type: "TXT", name: "example.org" }] });
      assertEquals(packet.decode(query).questions[0].name, "example.org");
      dnsPacket++;
    }
    assertEquals(dnsPacket, 1, `dns-packet among ${users.join(", ")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
