/**
 * `deno task serve` (scripts/quickstart.ts) as a process, from its own work dir (ACMEMS_QUICKSTART_DIR) and port
 * (ACMEMS_QUICKSTART_PORT): it takes over a stale lock, issues 90-day certificates (the profile it sets), admits names
 * under hmac.test only with the HMAC of the README's recipe (key in hmac.key), refuses a second quick start (same
 * port: naming ACMEMS_QUICKSTART_PORT and the first one's PID; other port: the lock) while the first keeps working
 * and its files stay unchanged, and Ctrl-C (SIGINT) stops it with `stopping reason=SIGINT` in the log.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { freePorts } from "../support/ports.ts";
import { run, runChecked, spawnLogged } from "../support/process.ts";
import { assertStatus, curlSign, hostCsr } from "./host_tools.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function quickstartEnv(dir: string, port: number): Record<string, string> {
  return { ACMEMS_QUICKSTART_DIR: dir, ACMEMS_QUICKSTART_PORT: String(port), NO_COLOR: "1" };
}

/** A second `deno task serve`, run to its end (it must refuse at once). */
function secondQuickstart(dir: string, port: number) {
  return run(Deno.execPath(), ["run", "-A", "scripts/quickstart.ts"], {
    cwd: ROOT,
    env: quickstartEnv(dir, port),
    signal: AbortSignal.timeout(60_000),
  });
}

/** Every file under `dir` with its content (what a second quick start must not change). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else files[p.slice(dir.length + 1)] = await Deno.readTextFile(p);
    }
  };
  await walk(dir);
  return files;
}

/**
 * `snapshot` once the running server has finished writing: after an answer it still marks the entry as fetched in
 * the background (its `.seen` file), so two snapshots 250 ms apart must agree (at most 5 s).
 */
async function settledSnapshot(dir: string): Promise<Record<string, string>> {
  let last = await snapshot(dir);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await snapshot(dir);
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  throw new Error(`the quick start's files kept changing for 5 s: ${Object.keys(last).join(", ")}`);
}

/** The README's hmac_sha256 shell function (section "Getting a certificate"), as written there. */
async function readmeHmacFunction(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const fn = readme.match(/^hmac_sha256\(\) \{\n[\s\S]*?\n\}$/m)?.[0];
  assert(fn, "README.md defines hmac_sha256() { … }");
  return fn;
}

/** Days between notBefore and notAfter of a PEM certificate (chain: the first one). */
async function validityDays(dir: string, pem: string): Promise<number> {
  const file = `${dir}/leaf.pem`;
  await Deno.writeTextFile(file, pem);
  const out = (await runChecked("openssl", ["x509", "-in", file, "-noout", "-startdate", "-enddate"])).stdout;
  const date = (key: string) => Date.parse(out.match(new RegExp(`${key}=(.*)`))![1]);
  return Math.round((date("notAfter") - date("notBefore")) / 86_400_000);
}

Deno.test("deno task serve: profile, HMAC recipe, a second serve changes nothing, Ctrl-C logs SIGINT", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "acmems-quickstart-" });
  const dir = `${tmp}/work`;
  const [port, otherPort] = await freePorts(2);
  // A stale lock: the PID of a process that has exited.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/quickstart.lock`, `${gone.pid}\n`);
  const first = spawnLogged({
    name: "deno task serve",
    command: Deno.execPath(),
    args: ["run", "-A", "scripts/quickstart.ts"],
    cwd: ROOT,
    env: quickstartEnv(dir, port),
    logFile: `${tmp}/quickstart.log`,
  });
  const log = () => Deno.readTextFile(`${tmp}/quickstart.log`);
  try {
    await first.waitFor(async () => (await log()).includes("acmems is running"), { timeoutMs: 90_000 });
    const url = `http://127.0.0.1:${port}`;

    await t.step("it took over the stale lock and prints both recipes", async () => {
      assertEquals((await Deno.readTextFile(`${dir}/quickstart.lock`)).trim(), String(first.pid));
      const out = await log();
      assertStringIncludes(out, `curl -sS --fail-with-body --data-binary @host.csr -o host.pem.new ${url}/sign &&`);
      assertStringIncludes(out, `hash=$(hmac_sha256 ${dir}/hmac.key secure.csr)`);
      assertStringIncludes(out, "Authentication: hmac name=sha256, hash=$hash");
      assertEquals((await Deno.stat(`${dir}/acmems.ini`)).mode! & 0o777, 0o600, "the config holds the HMAC key");
      // The README's Quick start shows exactly what it prints (there with the default port 1313).
      const readme = await Deno.readTextFile(`${ROOT}README.md`);
      const shown = readme.match(/## Quick start\n[\s\S]*?and prints:\n\n```sh\n([\s\S]*?)```/)?.[1];
      assert(shown, "README's Quick start: the block after 'and prints:'");
      for (const line of shown.trim().split("\n")) assertStringIncludes(out, line.replace(":1313/", `:${port}/`));
    });

    await t.step("certificates are 90 days (profile default), every time", async () => {
      const ini = await Deno.readTextFile(`${dir}/acmems.ini`);
      assertMatch(ini, /^profile = default$/m);
      for (const name of ["www.example.test", "mail.example.test", "db.example.test"]) {
        const csr = await hostCsr(tmp, [name]);
        const answer = await curlSign(url, csr.csrFile);
        assertStatus(answer, 200, name);
        assertEquals(await validityDays(tmp, answer.body), 90, name);
      }
    });

    await t.step("names under hmac.test: 403 without the HMAC, 200 with the README's recipe", async () => {
      const csr = await hostCsr(tmp, ["www.hmac.test"]);
      assertStatus(await curlSign(url, csr.csrFile), 403);
      const script = `${await readmeHmacFunction()}
hash=$(hmac_sha256 "$KEYFILE" "$CSR")
exec curl -sS -g -i --data-binary "@$CSR" -H "Authentication: hmac name=sha256, hash=$hash" "$URL/sign"`;
      const r = await run("sh", ["-c", script], { env: { KEYFILE: `${dir}/hmac.key`, CSR: csr.csrFile, URL: url } });
      assertMatch(r.stdout, /^HTTP\/1\.1 200/, r.output);
      assertStringIncludes(r.stdout, "-----BEGIN CERTIFICATE-----");
    });

    const before = await settledSnapshot(dir);
    assert(before["account/account.pem"], "the first one's account key");
    assert(Object.keys(before).some((f) => f.startsWith("cache/")), "the first one's cache");

    await t.step("a second deno task serve on the same port refuses, naming ACMEMS_QUICKSTART_PORT", async () => {
      const r = await secondQuickstart(dir, port);
      assertEquals(r.code, 1, r.output);
      assertStringIncludes(r.output, `127.0.0.1:${port} is already in use`);
      assertStringIncludes(r.output, `PID ${first.pid}`);
      assertStringIncludes(r.output, `ACMEMS_QUICKSTART_PORT=${port + 1} deno task serve`);
      assertEquals(await snapshot(dir), before, "the first one's files are unchanged");
    });

    await t.step("a second one on another port refuses too (the lock), naming the PID", async () => {
      const r = await secondQuickstart(dir, otherPort);
      assertEquals(r.code, 1, r.output);
      assertStringIncludes(r.output, `another quick start (PID ${first.pid})`);
      assertStringIncludes(r.output, "ACMEMS_QUICKSTART_PORT");
      assertEquals(await snapshot(dir), before, "the first one's files are unchanged");
    });

    await t.step("the first one keeps working", async () => {
      const csr = await hostCsr(tmp, ["after.example.test"]);
      assertStatus(await curlSign(url, csr.csrFile), 200);
    });

    await t.step("Ctrl-C (SIGINT): exits 0, the log says SIGINT, the lock is gone", async () => {
      Deno.kill(first.pid, "SIGINT");
      const status = await first.status;
      const out = await log();
      assertEquals(status.code, 0, out);
      assertMatch(out, /INFO +stopping reason=SIGINT/);
      assertMatch(out, /INFO +stopped/);
      assertEquals(await Deno.stat(`${dir}/quickstart.lock`).then(() => true, () => false), false);
    });
  } finally {
    await first.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deno task serve runs without root when pebble is there (as nobody when the tests run as root)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "acmems-quickstart-user-" });
  await Deno.chmod(tmp, 0o777);
  const [port] = await freePorts(1);
  let command = Deno.execPath();
  let args = ["run", "-A", "scripts/quickstart.ts"];
  const env: Record<string, string> = { ...quickstartEnv(`${tmp}/work`, port), HOME: tmp };
  if (Deno.uid() === 0) {
    // nobody cannot read root's Deno cache: a copy of its npm packages (no network needed).
    const cache = `${tmp}/deno`;
    await Deno.mkdir(cache);
    await runChecked("cp", ["-r", `${await denoDir()}/npm`, `${cache}/npm`]);
    await runChecked("chmod", ["-R", "a+rwX", tmp]);
    env.DENO_DIR = cache;
    args = ["--reuid=65534", "--regid=65534", "--clear-groups", command, ...args];
    command = "setpriv";
  }
  const proc = spawnLogged({ name: "deno task serve", command, args, cwd: ROOT, env, logFile: `${tmp}/out.log` });
  const log = () => Deno.readTextFile(`${tmp}/out.log`);
  try {
    await proc.waitFor(async () => (await log()).includes("acmems is running"), { timeoutMs: 90_000 });
    const owner = (await Deno.stat(`${tmp}/work/account/account.pem`)).uid;
    assert(owner !== 0, "the account key belongs to the non-root user");
    const csr = await hostCsr(tmp, ["user.example.test"]);
    assertStatus(await curlSign(`http://127.0.0.1:${port}`, csr.csrFile), 200);
    Deno.kill(proc.pid, "SIGINT");
    assertEquals((await proc.status).code, 0, await log());
    assertMatch(await log(), /INFO +stopping reason=SIGINT/);
  } finally {
    await proc.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

/** The Deno cache of this test process (`deno info --json`: denoDir). */
async function denoDir(): Promise<string> {
  const info = await runChecked(Deno.execPath(), ["info", "--json"]);
  return JSON.parse(info.stdout).denoDir;
}

Deno.test("deno task serve: Ctrl-C while it starts stops it cleanly (no lock left, SIGINT named if serve began)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "acmems-quickstart-early-" });
  const [port] = await freePorts(1);
  const proc = spawnLogged({
    name: "deno task serve",
    command: Deno.execPath(),
    args: ["run", "-A", "scripts/quickstart.ts"],
    cwd: ROOT,
    env: quickstartEnv(`${tmp}/work`, port),
    logFile: `${tmp}/out.log`,
  });
  const log = () => Deno.readTextFile(`${tmp}/out.log`);
  try {
    // pebble is up; acmems serve is about to start (or starting).
    await proc.waitFor(async () => (await log()).includes("pebble: "), { timeoutMs: 90_000 });
    Deno.kill(proc.pid, "SIGINT");
    const status = await proc.status;
    const out = await log();
    assert([0, 130].includes(status.code), `exit ${status.code}: ${out}`);
    assertEquals(await Deno.stat(`${tmp}/work/quickstart.lock`).then(() => true, () => false), false, out);
    if (out.includes("INFO    starting")) assertMatch(out, /INFO +stopping reason=SIGINT/);
    // The port is free again.
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } finally {
    await proc.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deno task serve: Ctrl-C from a terminal (the whole process group, pressed twice) stops everything cleanly", async () => {
  // A terminal's Ctrl-C signals its foreground process group: `deno task`, the quick start under it (which `deno task`
  // signals again) and pebble. Each repeat within a second is the same request, not "stop at once".
  const tmp = await Deno.makeTempDir({ prefix: "acmems-quickstart-group-" });
  const [port] = await freePorts(1);
  const proc = spawnLogged({
    name: "deno task serve (own process group)",
    command: "setsid",
    args: [Deno.execPath(), "task", "serve"],
    cwd: ROOT,
    env: quickstartEnv(`${tmp}/work`, port),
    logFile: `${tmp}/out.log`,
  });
  const log = () => Deno.readTextFile(`${tmp}/out.log`);
  const signalGroup = () => run("kill", ["-INT", "--", `-${proc.pid}`]);
  try {
    await proc.waitFor(async () => (await log()).includes("acmems is running"), { timeoutMs: 90_000 });
    await signalGroup();
    await new Promise((r) => setTimeout(r, 100));
    await signalGroup(); // Ctrl-C pressed again at once (the group may be gone already).
    const status = await proc.status;
    const out = await log();
    assertEquals(status.code, 0, out);
    assertMatch(out, /INFO +stopping reason=SIGINT/);
    assertMatch(out, /INFO +stopped/);
    assert(!out.includes("stopping at once"), out);
    assertEquals(await Deno.stat(`${tmp}/work/quickstart.lock`).then(() => true, () => false), false, out);
    // Nothing of the group is left running.
    const left = await run("pgrep", ["-g", String(proc.pid)]);
    assertEquals(left.stdout.trim(), "", "processes of the group still running");
  } finally {
    await run("kill", ["-KILL", "--", `-${proc.pid}`]);
    await proc.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
