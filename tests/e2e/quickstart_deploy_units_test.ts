/**
 * The example config and the systemd units are one set: configs/acmems.example.ini installed as
 * /etc/acmems/acmems.ini, run by contrib/acmems.service (the compiled binary) or contrib/acmems-bundle.service (the
 * bundle under Deno from npm). Each unit passes `systemd-analyze verify` (installed by .ci/install-peers.sh: the
 * `systemd` package; a missing tool fails the test), and every path the example config makes acmems write is
 * writable under the unit's sandbox (ProtectSystem=strict: only ReadWritePaths=, StateDirectory= and its kin, and a
 * private /tmp). The bundle unit has the very sandbox of the binary's, and the permissions `deno task compile` gives.
 */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { run, runChecked } from "../support/process.ts";
import { loadConfig } from "../../src/config/load.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const UNITS = ["contrib/acmems.service", "contrib/acmems-bundle.service"];
const CONFIG_PATH = "/etc/acmems/acmems.ini";

type Directives = Map<string, string[]>;

/** `Key=value` lines (comments and section headers dropped); an empty assignment resets the list, as systemd does. */
function parseUnit(text: string): Directives {
  const d: Directives = new Map();
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Za-z]+)=(.*)$/);
    if (!m) continue;
    d.set(m[1], m[2] === "" ? [] : [...(d.get(m[1]) ?? []), m[2]]);
  }
  return d;
}

const words = (d: Directives, key: string) => (d.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);

/** The directories a unit may write to under ProtectSystem=strict. */
function writableRoots(d: Directives): string[] {
  const roots = words(d, "ReadWritePaths").map((p) => p.replace(/^[-+]/, ""));
  const kinds: [string, string][] = [
    ["StateDirectory", "/var/lib"],
    ["CacheDirectory", "/var/cache"],
    ["LogsDirectory", "/var/log"],
    ["RuntimeDirectory", "/run"],
  ];
  for (const [key, base] of kinds) for (const name of words(d, key)) roots.push(`${base}/${name.split(":")[0]}`);
  if (d.get("PrivateTmp")?.at(-1) === "yes") roots.push("/tmp", "/var/tmp");
  return roots;
}

const under = (path: string, root: string) => path === root || path.startsWith(root.replace(/\/$/, "") + "/");

/** Every path the example config (installed as CONFIG_PATH) makes acmems write. */
async function configWrites(): Promise<string[]> {
  const result = await loadConfig([`${ROOT}configs/acmems.example.ini`]);
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const config = result.config;
  const writes = [config.account.dir];
  for (const storage of config.storages.values()) {
    if (storage.type === "file") writes.push(storage.directory);
  }
  const destination = config.logging.destination;
  if (destination !== "stderr" && destination !== "stdout") writes.push(destination);
  // Loaded from configs/, a relative path would resolve there, not below /etc/acmems: none may be relative.
  for (const path of writes) assert(path.startsWith("/var/"), `the example config writes below /var: ${path}`);
  return writes;
}

Deno.test("example config and systemd units: one set, verified, every written path writable", async (t) => {
  const writes = await configWrites();
  assertEquals(writes.sort(), ["/var/lib/acmems/account", "/var/lib/acmems/cache"]);
  const units = new Map<string, { text: string; d: Directives }>();
  for (const unit of UNITS) {
    const text = await Deno.readTextFile(`${ROOT}${unit}`);
    units.set(unit, { text, d: parseUnit(text) });
  }

  for (const [unit, { text, d }] of units) {
    await t.step(`${unit}: runs the example config's install path, sandbox lets it write its state`, () => {
      const exec = d.get("ExecStart")!.at(-1)!;
      assert(exec.endsWith(` serve ${CONFIG_PATH}`), exec);
      assertEquals(d.get("ConfigurationDirectory"), ["acmems"]);
      assertEquals(d.get("ProtectSystem"), ["strict"], "a read-only system, so the check below means something");
      assertEquals(d.get("ProtectHome"), ["yes"]);
      const roots = writableRoots(d);
      for (const path of writes) {
        assert(roots.some((root) => under(path, root)), `${unit}: ${path} is not writable (writable: ${roots})`);
        for (const hidden of ["/home", "/root", "/run/user", ...words(d, "InaccessiblePaths")]) {
          assert(!under(path, hidden), `${unit}: ${path} is hidden by the sandbox`);
        }
        for (const readOnly of words(d, "ReadOnlyPaths")) assert(!under(path, readOnly), `${unit}: ${path} read-only`);
      }
      // The state directories themselves are created by systemd (owned by the transient user).
      for (const path of writes) {
        assert(
          words(d, "StateDirectory").some((name) => path === `/var/lib/${name}`),
          `${unit}: StateDirectory= creates ${path}`,
        );
      }
      assertStringIncludes(text, "configs/acmems.example.ini");
    });

    await t.step(`${unit}: systemd-analyze verify`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "acmems-unit-" });
      try {
        // verify insists that ExecStart's program exists: point it at a stub, change nothing else.
        const stub = `${dir}/program`;
        await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
        const copy = text.replace(/^ExecStart=\S+ /m, `ExecStart=${stub} `);
        assert(copy !== text);
        const file = `${dir}/acmems.service`;
        await Deno.writeTextFile(file, copy);
        const verify = await runChecked("systemd-analyze", ["verify", "--man=no", file], { cwd: dir });
        assertEquals(verify.output.trim(), "", "systemd-analyze verify prints no warnings");
        // The check has teeth: a misspelt directive is reported.
        await Deno.writeTextFile(file, copy.replace("[Service]\n", "[Service]\nReadWritePath=/var/lib/acmems\n"));
        assertStringIncludes(
          (await run("systemd-analyze", ["verify", "--man=no", file], { cwd: dir })).output,
          "ReadWritePath",
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }

  await t.step(
    "the bundle unit: the binary unit's sandbox, deno run with deno task compile's permissions",
    async () => {
      const binary = units.get(UNITS[0])!.d;
      const bundle = units.get(UNITS[1])!.d;
      const rest = (d: Directives) =>
        [...d].filter(([k]) => !["Description", "ExecStart", "Environment"].includes(k)).map(([k, v]) => `${k}=${v}`);
      assertEquals(rest(bundle), rest(binary));
      const exec = bundle.get("ExecStart")!.at(-1)!;
      // `deno` without a path: systemd looks in /usr/local/bin and /usr/bin, where `npm install -g` puts it.
      assert(exec.startsWith("deno run "), exec);
      assertStringIncludes(exec, " /usr/local/lib/acmems/acmems.js serve ");
      const flags = (s: string) => [...s.matchAll(/--allow-[a-z]+(=[^\s"]+)?/g)].map((m) => m[0]).sort();
      const compile = await Deno.readTextFile(`${ROOT}scripts/compile.sh`);
      assertEquals(flags(exec), flags(compile));
      assert(flags(exec).length >= 5, "the permissions are spelt out, not --allow-all");
    },
  );
});
