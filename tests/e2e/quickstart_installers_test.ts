/**
 * The two installers: scripts/install-quickstart-peers.sh (the quick start's pebble, unpacked into .work/peers/, no
 * root) and .ci/install-peers.sh (the test peers, system-wide). Both say what they will do before doing it
 * (`--dry-run` shows exactly that and changes nothing); neither stops, disables or reconfigures a service; the quick
 * start needs nothing but pebble's package. Both scripts pass shellcheck.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { run, runChecked } from "../support/process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const QUICKSTART_INSTALLER = `${ROOT}scripts/install-quickstart-peers.sh`;
const TEST_INSTALLER = `${ROOT}.ci/install-peers.sh`;

/** Code lines of a shell script (comments and blank lines dropped). */
async function codeLines(file: string): Promise<string[]> {
  return (await Deno.readTextFile(file)).split("\n").map((l) => l.replace(/(^|\s)#.*$/, "").trim()).filter(Boolean);
}

Deno.test("install-quickstart-peers.sh --dry-run says what, from where, to where, and changes nothing", async () => {
  const peers = `${ROOT}.work/peers`;
  const before = await Deno.stat(peers).then((s) => s.mtime?.getTime(), () => undefined);
  const r = await run("bash", [QUICKSTART_INSTALLER, "--dry-run"]);
  assertEquals(r.code, 0, r.output);
  assertStringIncludes(r.output, "pebble 2.10.0+ds1-2");
  assertStringIncludes(r.output, "pebble-challtestsrv");
  assertMatch(r.output, /from: +\S+:\/\/\S+ \(this machine's Debian mirror\), suite sid/);
  assertStringIncludes(r.output, `to:     ${peers}`);
  assertStringIncludes(r.output, "nothing is installed system-wide");
  assertStringIncludes(r.output, "no service started or stopped");
  assertStringIncludes(r.output, "dry run: nothing changed");
  assertEquals(await Deno.stat(peers).then((s) => s.mtime?.getTime(), () => undefined), before);

  // It never installs system-wide or touches services, and never needs root.
  const code = (await codeLines(QUICKSTART_INSTALLER)).join("\n");
  for (const forbidden of [/dpkg -i/, /apt-get install/, /systemctl/, /\/etc\/init\.d/, /id -u\)" -eq 0 \] \|\| die/]) {
    assert(!forbidden.test(code), `install-quickstart-peers.sh must not contain ${forbidden}`);
  }
});

Deno.test(".ci/install-peers.sh says what it changes and never stops or disables a service", async () => {
  const r = await run("bash", [TEST_INSTALLER, "--dry-run"]);
  assertEquals(r.code, 0, r.output);
  assert(
    r.output.includes("this will change the system:") || r.output.includes("nothing to change"),
    `the plan is shown: ${r.output}`,
  );
  assertStringIncludes(r.output, "dry run: nothing changed");

  const lines = await codeLines(TEST_INSTALLER);
  const code = lines.join("\n");
  for (
    const forbidden of [
      /systemctl (disable|stop|mask)/,
      /--now/,
      /\/etc\/init\.d\/\S+"? stop/,
      /(^|\n)\s*service \S+ stop/,
    ]
  ) {
    assert(!forbidden.test(code), `.ci/install-peers.sh must not contain ${forbidden}`);
  }
  // The AppArmor profile is changed only where it is enforced (apparmor_needed), and announced in the plan.
  const apparmorEdits = lines.filter((l) => l.includes('>>"$local_rules"') || l.startsWith("apparmor_parser"));
  assert(apparmorEdits.length > 0);
  const script = await Deno.readTextFile(TEST_INSTALLER);
  assertMatch(
    script,
    /if apparmor_needed; then\n\s+mkdir -p[^\n]*\n\s+\{[\s\S]*?>>"\$local_rules"\n\s+apparmor_parser/,
  );
  assertMatch(script, /apparmor_needed && plan\+=/);
  // The package list stays one simple array (other changes add a package to it).
  assertMatch(script, /^PACKAGES=\([a-z0-9 .+-]+\)$/m);
});

Deno.test("the quick start needs only pebble: no bind9, nginx, PostgreSQL, no test installer", async () => {
  const files = [`${ROOT}scripts/quickstart.ts`];
  for await (const e of Deno.readDir(`${ROOT}scripts/quickstart`)) files.push(`${ROOT}scripts/quickstart/${e.name}`);
  for (const file of files) {
    // Code only: the comments may say what it does not need.
    const text = (await Deno.readTextFile(file)).split("\n").filter((l) => !/^\s*(\/\/|\/\*\*|\*)/.test(l))
      .join("\n");
    for (const forbidden of [/named\.ts|startNamed|\/usr\/sbin\/named/, /nginx/, /postgres/, /install-peers\.sh/]) {
      assert(!forbidden.test(text), `${file} must not use ${forbidden}`);
    }
  }
});

Deno.test("both installers pass shellcheck", async () => {
  await runChecked("shellcheck", [QUICKSTART_INSTALLER, TEST_INSTALLER, `${ROOT}scripts/compile.sh`]);
});
