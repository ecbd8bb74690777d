/**
 * The client kit (clients/acmems-client.sh) run for real, the way a host's cron job runs it: against acmems (in
 * process, wired as in scripts/quickstart.ts) in front of pebble and bind9, and against tiny in-test servers that
 * answer what acmems never would (a certificate for another key, every error status).
 *
 * What reaches /sign is read from acmems' own log (`sign` events, one per request), so "the client did not call"
 * is checked on the server side.
 */
import { assert, assertEquals, assertMatch, assertNotEquals, assertStringIncludes } from "../support/assert.ts";
import { fileStorage, ipAuth, testConfig, writeConfig } from "../support/config.ts";
import { freePort } from "../support/ports.ts";
import { removeWorkDir, run, runChecked, type RunResult } from "../support/process.ts";
import { serveInProcess, startStack } from "../support/stack.ts";
import { makeTestCa } from "../support/test_ca.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = `${ROOT}clients/acmems-client.sh`;
const INTERFACE = "acmems-client.sh --server URL --key FILE --cert FILE [--ca FILE] [--hmac-key-file FILE] " +
  "[--hmac-type sha256] [--reload CMD] [--force] NAME...";
const HMAC_KEY = "client-kit-hmac-secret";

/** Runs the client script directly (its #!/bin/sh line), as cron would. */
function client(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  // A time zone far from UTC (POSIX TZ syntax, no tzdata needed): the script must compare times in UTC.
  return run(SCRIPT, args, { env: { TZ: "XYZ-14", ...env } });
}

function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

function assertExit(r: RunResult, code: number, what: string): void {
  assertEquals(r.code, code, `${what}: ${show(r)}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await Deno.lstat(file);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function publicKeyOf(kind: "x509" | "pkey" | "req", file: string): Promise<string> {
  const args = kind === "pkey" ? ["pkey", "-in", file, "-pubout"] : [kind, "-in", file, "-noout", "-pubkey"];
  return (await runChecked("openssl", args)).stdout;
}

async function sansOf(kind: "x509" | "req", file: string): Promise<string[]> {
  const text = (await runChecked("openssl", [kind, "-in", file, "-noout", "-text"])).stdout;
  const line = text.match(/X509v3 Subject Alternative Name:[^\n]*\n\s*(.*)/)?.[1] ?? "";
  return line.split(",").map((s) => s.trim().replace(/^DNS:/, "")).sort();
}

/** A host's files: key, CSR (next to the key), certificate, renew-after (next to the certificate). */
function hostFiles(dir: string) {
  return {
    key: `${dir}/host.key`,
    csr: `${dir}/host.key.csr`,
    cert: `${dir}/host.pem`,
    renewAfter: `${dir}/host.pem.renew-after`,
    reloadLog: `${dir}/reload.log`,
  };
}

async function linesOf(file: string): Promise<string[]> {
  if (!(await exists(file))) return [];
  return (await Deno.readTextFile(file)).split("\n").filter(Boolean);
}

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

// --- acmems + pebble + bind9 ------------------------------------------------------------------------------------------

interface SignEvent {
  status: number;
  names: string[];
  cache?: string;
  block?: string;
  outcome: string;
}

interface KitStack {
  /** The work dir (removed by `stop`). */
  work: string;
  url: string;
  /** The root that issues this pebble's certificates, for --ca. */
  rootFile: string;
  /** Every /sign request acmems answered so far, from its log. */
  signs(): Promise<SignEvent[]>;
  stop(): Promise<void>;
}

/** bind9 + pebble (tests/support/stack.ts) and acmems in-process through runServe, JSON logs to a file. */
async function startKitStack(): Promise<KitStack> {
  const httpPort = await freePort();
  const { work: dir, pebble, rootFile, cleanup } = await startStack({
    prefix: "acmems-client-kit-",
    pebble: { httpPort },
    rootFile: true,
  });
  const stop = () => cleanup.run();
  try {
    const logFile = `${dir}/acmems.log`;
    // Up to three tries: the free port can be taken by someone else before acmems binds it.
    for (let attempt = 1;; attempt++) {
      const mgmtPort = await freePort();
      const config = await writeConfig(
        `${dir}/acmems-${attempt}.ini`,
        testConfig({
          comment: "client kit e2e test",
          ca: pebble,
          mgmtPort,
          httpPort,
          logging: { level: "info", format: "json", destination: logFile },
          storages: { cache: fileStorage("cache") },
          auth: {
            hmac: { ip: "127.0.0.1", domain: "*.tsig.test", hmac_type: "sha256", hmac_key: HMAC_KEY },
            local: ipAuth(),
          },
        }),
      );
      const served = await serveInProcess([config]).catch((e: Error) => e);
      if (!(served instanceof Error)) {
        cleanup.add(() => served.stop());
        return {
          work: dir,
          url: `http://127.0.0.1:${mgmtPort}`,
          rootFile,
          signs: async () => {
            const events: SignEvent[] = [];
            for (const line of await linesOf(logFile)) {
              if (!line.startsWith("{")) continue;
              const e = JSON.parse(line);
              if (e.event === "sign") events.push(e);
            }
            return events;
          },
          stop,
        };
      }
      if (attempt >= 3) {
        throw new Error(`acmems serve failed: ${served.message}; log:\n${await Deno.readTextFile(logFile)}`);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A directory of links to every program in /usr/bin and /usr/sbin except curl: a host with wget only. */
async function pathWithoutCurl(dir: string): Promise<string> {
  const bin = `${dir}/bin-without-curl`;
  await Deno.mkdir(bin);
  const seen = new Set<string>();
  for (const source of ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]) {
    if (!(await exists(source))) continue;
    for await (const entry of Deno.readDir(source)) {
      if (entry.name === "curl" || seen.has(entry.name)) continue;
      seen.add(entry.name);
      await Deno.symlink(`${source}/${entry.name}`, `${bin}/${entry.name}`);
    }
  }
  assert(seen.has("wget") && seen.has("openssl"), "wget and openssl are installed");
  return bin;
}

/**
 * A directory shadowing every program of the usual bin directories with a wrapper that appends its own command line
 * (program name and arguments, space-separated, one line) to `log`, then `exec`s the real program: every program the
 * client runs by name is recorded, so an argument that carries a secret cannot go unnoticed.
 */
async function recordingPath(dir: string, log: string): Promise<string> {
  const bin = `${dir}/bin-recording`;
  await Deno.mkdir(bin);
  const seen = new Set<string>();
  for (const source of ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]) {
    if (!(await exists(source))) continue;
    for await (const entry of Deno.readDir(source)) {
      if (seen.has(entry.name) || !/^[A-Za-z0-9._+-]+$/.test(entry.name)) continue;
      seen.add(entry.name);
      // One printf, so one write(2) with O_APPEND: the programs of a pipeline run at once, and a line written in
      // pieces would interleave with theirs under load.
      const wrapper = `#!/bin/sh\nprintf '%s\\n' "${entry.name}\${*:+ $*}" >>'${log}'\n` +
        `exec '${source}/${entry.name}' "$@"\n`;
      await Deno.writeTextFile(`${bin}/${entry.name}`, wrapper, { mode: 0o755 });
    }
  }
  return bin;
}

/**
 * Reads every process's command line (what `ps -eo args` shows to any local user) over and over until `stop()`;
 * `lines` holds each distinct one seen.
 */
function sampleCommandLines(): { lines: Set<string>; stop(): Promise<void> } {
  const lines = new Set<string>();
  let done = false;
  const loop = (async () => {
    while (!done) {
      for await (const entry of Deno.readDir("/proc")) {
        if (!/^\d+$/.test(entry.name)) continue;
        try {
          const raw = await Deno.readFile(`/proc/${entry.name}/cmdline`);
          if (raw.length > 0) lines.add(new TextDecoder().decode(raw).replaceAll("\0", " "));
        } catch {
          // The process exited meanwhile.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  })();
  return {
    lines,
    stop: async () => {
      done = true;
      await loop;
    },
  };
}

/** The lines of `lines` that contain `secret`, or its hex spelling. */
function leaks(lines: Iterable<string>, secret: string): string[] {
  const hex = Array.from(new TextEncoder().encode(secret), (b) => b.toString(16).padStart(2, "0")).join("");
  return [...lines].filter((l) => l.includes(secret) || l.toLowerCase().includes(hex));
}

Deno.test("client kit against acmems, pebble and bind9", async (t) => {
  const stack = await startKitStack();
  const work = stack.work;
  try {
    const signCount = async () => (await stack.signs()).length;
    const lastSign = async () => (await stack.signs()).at(-1)!;

    const hostDir = `${work}/host`;
    await Deno.mkdir(hostDir);
    const f = hostFiles(hostDir);
    const reload = `echo reloaded >> '${f.reloadLog}'`;
    const base = ["--server", stack.url, "--key", f.key, "--cert", f.cert, "--ca", stack.rootFile, "--reload", reload];
    const names = ["www.example.test", "Alt.example.test"];
    let firstCert = "";
    let firstIno = 0;

    await t.step("first run: makes the key and CSR, gets the certificate, installs it, reloads", async () => {
      const before = await signCount();
      const r = await client([...base, ...names]);
      assertExit(r, 0, "first run");
      assertStringIncludes(r.stdout, "installed a new certificate");
      assertEquals(await signCount(), before + 1);
      const sign = await lastSign();
      assertEquals([sign.status, sign.cache, sign.block], [200, "miss", "local"]);
      assertEquals(sign.names.slice().sort(), ["alt.example.test", "www.example.test"], "names lower-cased");

      assertEquals((await Deno.stat(f.key)).mode! & 0o777, 0o600, "key mode 0600");
      assertMatch(await Deno.readTextFile(f.key), /^-----BEGIN PRIVATE KEY-----/);
      assertStringIncludes((await runChecked("openssl", ["pkey", "-in", f.key, "-noout", "-text"])).stdout, "P-256");
      const keyPub = await publicKeyOf("pkey", f.key);
      assertEquals(await publicKeyOf("req", f.csr), keyPub, "the CSR is for the key");
      assertEquals(await sansOf("req", f.csr), ["alt.example.test", "www.example.test"]);
      const subject = await runChecked("openssl", ["req", "-in", f.csr, "-noout", "-subject", "-nameopt", "RFC2253"]);
      assertEquals(subject.stdout.trim(), "subject=CN=www.example.test", "first name as CN");

      firstCert = await Deno.readTextFile(f.cert);
      firstIno = (await Deno.stat(f.cert)).ino!;
      assertEquals((firstCert.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2, "leaf and intermediate");
      assertEquals(await publicKeyOf("x509", f.cert), keyPub, "the certificate is for the key");
      assertEquals(await sansOf("x509", f.cert), ["alt.example.test", "www.example.test"]);
      const chainFile = `${work}/chain.pem`;
      await Deno.writeTextFile(chainFile, firstCert.slice(firstCert.indexOf("-----END CERTIFICATE-----") + 26));
      await runChecked("openssl", ["verify", "-CAfile", stack.rootFile, "-untrusted", chainFile, f.cert]);

      const renewAfter = (await Deno.readTextFile(f.renewAfter)).trim();
      assertMatch(renewAfter, RFC3339_UTC);
      assert(new Date(renewAfter) > new Date(), `renew-after ${renewAfter} is in the future`);
      assertEquals(await linesOf(f.reloadLog), ["reloaded"], "--reload ran once");
      assertEquals(await listDir(hostDir), [
        "host.key",
        "host.key.csr",
        "host.pem",
        "host.pem.renew-after",
        "reload.log",
      ]);
    });

    await t.step("second run: before renew-after it does not call the server", async () => {
      const before = await signCount();
      const csr = await Deno.readTextFile(f.csr);
      const r = await client([...base, ...names]);
      assertExit(r, 0, "second run");
      assertStringIncludes(r.stdout, "not asking the server before");
      assertEquals(await signCount(), before, "no request reached /sign");
      assertEquals(await Deno.readTextFile(f.csr), csr, "the CSR is reused");
      assertEquals(await Deno.readTextFile(f.cert), firstCert);
      assertEquals((await Deno.stat(f.cert)).ino, firstIno, "the certificate file was not touched");
      assertEquals(await linesOf(f.reloadLog), ["reloaded"], "no reload");
    });

    await t.step(
      "renew-after in the past: calls, gets the cached certificate, leaves the file, no reload",
      async () => {
        await Deno.writeTextFile(f.renewAfter, "2000-01-01T00:00:00Z\n");
        const before = await signCount();
        const r = await client([...base, ...names]);
        assertExit(r, 0, "run after renew-after");
        assertStringIncludes(r.stdout, "unchanged");
        assertEquals(await signCount(), before + 1, "one request");
        assertEquals((await lastSign()).cache, "hit", "the server answered from its cache: the CSR is identical");
        assertEquals(await Deno.readTextFile(f.cert), firstCert);
        assertEquals((await Deno.stat(f.cert)).ino, firstIno);
        assertEquals(await linesOf(f.reloadLog), ["reloaded"], "no reload");
        const renewAfter = (await Deno.readTextFile(f.renewAfter)).trim();
        assert(RFC3339_UTC.test(renewAfter) && new Date(renewAfter) > new Date(), `renewed renew-after ${renewAfter}`);
      },
    );

    await t.step("renew-after spellings: fractions and offsets are understood, garbage means ask", async () => {
      const cases: [string, boolean][] = [
        ["2999-01-01T00:00:00.250Z", false],
        ["2999-01-01T02:00:00+02:00", false],
        ["2999-01-01t00:00:00z", false],
        ["2001-01-01T00:00:00+00:00", true],
        ["tomorrow", true],
        ["", true],
      ];
      for (const [value, calls] of cases) {
        await Deno.writeTextFile(f.renewAfter, value + "\n");
        const before = await signCount();
        assertExit(await client([...base, ...names]), 0, `renew-after ${JSON.stringify(value)}`);
        assertEquals(await signCount(), before + (calls ? 1 : 0), `renew-after ${JSON.stringify(value)}: called`);
      }
      await Deno.remove(f.renewAfter);
      const before = await signCount();
      assertExit(await client([...base, ...names]), 0, "no renew-after file");
      assertEquals(await signCount(), before + 1, "without a renew-after file it asks");
      assertEquals(await linesOf(f.reloadLog), ["reloaded"], "no reload");
    });

    await t.step("--force calls even though the certificate is not due", async () => {
      const before = await signCount();
      const r = await client([...base, "--force", ...names]);
      assertExit(r, 0, "--force");
      assertEquals(await signCount(), before + 1);
      assertEquals((await lastSign()).cache, "hit");
      assertEquals((await Deno.stat(f.cert)).ino, firstIno, "same certificate: not replaced");
      assertEquals(await linesOf(f.reloadLog), ["reloaded"], "no reload");
    });

    await t.step("new names: new CSR, new certificate installed by rename (never partial), reload runs", async () => {
      const keyBefore = await Deno.readTextFile(f.key);
      const csrBefore = await Deno.readTextFile(f.csr);
      const before = await signCount();
      // Read the certificate file over and over while the client replaces it: every read must be a whole file.
      const seen = new Set<string>();
      let done = false;
      const reader = (async () => {
        while (!done) {
          seen.add(await Deno.readTextFile(f.cert));
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      let r: RunResult;
      try {
        r = await client([...base, ...names, "new.example.test"]);
      } finally {
        done = true;
        await reader;
      }
      assertExit(r, 0, "run with a new name");
      assertEquals(await signCount(), before + 1);
      assertEquals((await lastSign()).cache, "miss");
      const newCert = await Deno.readTextFile(f.cert);
      assertNotEquals(newCert, firstCert);
      assertNotEquals((await Deno.stat(f.cert)).ino, firstIno, "replaced by rename: a new inode");
      for (const content of seen) assert(content === firstCert || content === newCert, "a reader saw a partial file");
      assertEquals(await sansOf("x509", f.cert), ["alt.example.test", "new.example.test", "www.example.test"]);
      assertEquals(await Deno.readTextFile(f.key), keyBefore, "the key is kept");
      assertNotEquals(await Deno.readTextFile(f.csr), csrBefore, "the CSR was made again");
      assertEquals(await sansOf("req", f.csr), ["alt.example.test", "new.example.test", "www.example.test"]);
      assertEquals(await linesOf(f.reloadLog), ["reloaded", "reloaded"], "--reload ran for the new certificate");
      assertEquals(await listDir(hostDir), [
        "host.key",
        "host.key.csr",
        "host.pem",
        "host.pem.renew-after",
        "reload.log",
      ]);
    });

    await t.step("a failed --reload fails the run and is retried on the next one", async () => {
      const failing = ["--server", stack.url, "--key", f.key, "--cert", f.cert, "--reload", "exit 7"];
      const r = await client([...failing, "www.example.test"]);
      assertExit(r, 1, "failing reload");
      assertStringIncludes(r.stderr, "--reload command failed");
      assert(await exists(`${f.cert}.reload-pending`), "the pending reload is remembered");
      assertEquals(await sansOf("x509", f.cert), ["www.example.test"], "the certificate is installed anyway");
      const before = await signCount();
      const again = await client([...base, "www.example.test"]);
      assertExit(again, 0, "next run");
      assertEquals(await signCount(), before, "not due: no request");
      assertEquals(await linesOf(f.reloadLog), ["reloaded", "reloaded", "reloaded"], "the reload was retried");
      assert(!(await exists(`${f.cert}.reload-pending`)), "and forgotten once it succeeded");
    });

    await t.step("HMAC auth block: the right key is admitted, a wrong or missing one is refused (exit 2)", async () => {
      const dir = `${work}/hmac`;
      await Deno.mkdir(dir);
      const h = hostFiles(dir);
      const args = ["--server", stack.url, "--key", h.key, "--cert", h.cert, "--ca", stack.rootFile];
      for (const extra of [["--hmac-key", "not-the-key"], [], ["--hmac-key", HMAC_KEY, "--hmac-type", "sha512"]]) {
        const r = await client([...args, ...extra, "h.tsig.test"]);
        assertExit(r, 2, `refused with ${JSON.stringify(extra)}`);
        assertStringIncludes(r.stderr, "403");
        assertEquals((await lastSign()).status, 403);
        assert(!(await exists(h.cert)), "nothing installed");
      }
      const r = await client([...args, "--hmac-key", HMAC_KEY, "h.tsig.test"]);
      assertExit(r, 0, "right HMAC key");
      const sign = await lastSign();
      assertEquals([sign.status, sign.block], [200, "hmac"]);
      assertEquals(await sansOf("x509", h.cert), ["h.tsig.test"]);
    });

    await t.step(
      "HMAC key from --hmac-key-file or ACMEMS_HMAC_KEY: admitted, and no command line carries it",
      async () => {
        const dir = `${work}/hmac-file`;
        await Deno.mkdir(dir);
        const h = hostFiles(dir);
        const keyFile = `${dir}/hmac.key`;
        await Deno.writeTextFile(keyFile, `${HMAC_KEY}\n`, { mode: 0o600 });
        const log = `${dir}/argv.log`;
        const env = { PATH: await recordingPath(work, log) };
        const args = ["--server", stack.url, "--key", h.key, "--cert", h.cert, "--ca", stack.rootFile, "--force"];
        const runs: [string, string, string[], Record<string, string>][] = [
          // dash (the #!/bin/sh of Debian) and bash: printf must be a builtin in both.
          ["--hmac-key-file, dash", SCRIPT, [...args, "--hmac-key-file", keyFile, "f.tsig.test"], env],
          ["ACMEMS_HMAC_KEY, bash", "bash", [SCRIPT, ...args, "f.tsig.test"], { ...env, ACMEMS_HMAC_KEY: HMAC_KEY }],
          ["--hmac-key-file /dev/stdin, bash --posix", "bash", [
            "--posix",
            SCRIPT,
            ...args,
            "--hmac-key-file",
            "/dev/stdin",
            "f.tsig.test",
          ], env],
        ];
        for (const [what, command, argv, runEnv] of runs) {
          await Deno.writeTextFile(log, "");
          const sampler = sampleCommandLines();
          let r: RunResult;
          try {
            r = await run(command, argv, {
              env: { TZ: "XYZ-14", ...runEnv },
              stdin: argv.includes("/dev/stdin") ? `${HMAC_KEY}\n` : undefined,
            });
          } finally {
            await sampler.stop();
          }
          assertExit(r, 0, what);
          assertEquals(r.stderr, "", `${what}: no warning`);
          const sign = await lastSign();
          assertEquals([sign.status, sign.block], [200, "hmac"], what);
          const recorded = await linesOf(log);
          // The recording works: it saw the HMAC digests and the request carrying the header.
          assert(recorded.some((l) => /^openssl dgst -sha256 -binary$/.test(l)), `${what}: openssl recorded`);
          assert(recorded.some((l) => /^curl .*Authentication: hmac name=sha256, hash=[0-9a-f]{64}/.test(l)), what);
          assertEquals(leaks(recorded, HMAC_KEY), [], `${what}: no program got the key as an argument`);
          assert([...sampler.lines].some((l) => l.includes("acmems-client.sh")), `${what}: the sampler saw the client`);
          assertEquals(leaks(sampler.lines, HMAC_KEY), [], `${what}: no command line in /proc showed the key`);
          assertEquals(await sansOf("x509", h.cert), ["f.tsig.test"]);
        }

        // The deprecated --hmac-key still works, and says what it exposes.
        const old = await client([...args, "--hmac-key", HMAC_KEY, "f.tsig.test"]);
        assertExit(old, 0, "--hmac-key");
        assertStringIncludes(old.stderr, "--hmac-key puts the key where every local user can read it");
        assertEquals((await lastSign()).status, 200);

        // A world-readable key file works too, with a warning; an unreadable or empty one is an error.
        await Deno.chmod(keyFile, 0o644);
        const loose = await client([...args, "--hmac-key-file", keyFile, "f.tsig.test"]);
        assertExit(loose, 0, "world-readable key file");
        assertStringIncludes(loose.stderr, `readable by every local user: chmod 600 ${keyFile}`);
        await Deno.chmod(keyFile, 0o640);
        const group = await client([...args, "--hmac-key-file", keyFile, "f.tsig.test"]);
        assertExit(group, 0, "group-readable key file");
        assertStringIncludes(group.stderr, `readable by its group: chmod 600 ${keyFile}`);
        const missing = await client([...args, "--hmac-key-file", `${dir}/none`, "f.tsig.test"]);
        assertExit(missing, 1, "missing key file");
        assertStringIncludes(missing.stderr, `cannot read the --hmac-key-file ${dir}/none`);
        await Deno.writeTextFile(`${dir}/empty.key`, " \n", { mode: 0o600 });
        const empty = await client([...args, "--hmac-key-file", `${dir}/empty.key`, "f.tsig.test"]);
        assertExit(empty, 1, "empty key file");
        assertStringIncludes(empty.stderr, "is empty");
      },
    );

    await t.step("a name outside every auth block is refused (exit 2)", async () => {
      const dir = `${work}/outside`;
      await Deno.mkdir(dir);
      const h = hostFiles(dir);
      const r = await client([
        "--server",
        stack.url,
        "--key",
        h.key,
        "--cert",
        h.cert,
        "www.example.test",
        "x.other.test",
      ]);
      assertExit(r, 2, "outside");
      assertStringIncludes(r.stderr, "answered 403");
      assertEquals((await lastSign()).status, 403);
      assert(!(await exists(h.cert)), "nothing installed");
    });

    await t.step("a host with wget and no curl", async () => {
      const bin = await pathWithoutCurl(work);
      const env = { PATH: bin };
      assertEquals((await run("sh", ["-c", "command -v curl || echo none"], { env })).stdout.trim(), "none");
      const dir = `${work}/wget`;
      await Deno.mkdir(dir);
      const h = hostFiles(dir);
      const args = ["--server", stack.url, "--key", h.key, "--cert", h.cert, "--ca", stack.rootFile];
      const before = await signCount();
      assertExit(await client([...args, "wget.example.test"], env), 0, "wget: first run");
      assertEquals(await signCount(), before + 1);
      assertEquals(await sansOf("x509", h.cert), ["wget.example.test"]);
      assertMatch((await Deno.readTextFile(h.renewAfter)).trim(), RFC3339_UTC);
      assertExit(await client([...args, "wget.example.test"], env), 0, "wget: second run");
      assertEquals(await signCount(), before + 1, "not due: no request");
      await Deno.writeTextFile(h.renewAfter, "2000-01-01T00:00:00Z\n");
      assertExit(await client([...args, "wget.example.test"], env), 0, "wget: due");
      assertEquals((await lastSign()).cache, "hit");
      const refused = await client([...args, "--hmac-key", "wrong", "w.tsig.test"], env);
      assertExit(refused, 2, "wget: refused");
      assertStringIncludes(refused.stderr, "answered 403");
      const down = await client([
        "--server",
        `http://127.0.0.1:${await freePort()}`,
        ...args.slice(2),
        "d.example.test",
      ], env);
      assertExit(down, 3, "wget: server down");
    });
  } finally {
    await stack.stop();
  }
});

// --- in-test servers: what acmems would never answer ------------------------------------------------------------------

interface FakeRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
}

/** Deno.serve on a free loopback port; `answer` decides each response. Stop it with `shutdown()`. */
function fakeServer(answer: (req: FakeRequest) => Promise<Response> | Response) {
  const requests: FakeRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const req = {
      method: request.method,
      path: new URL(request.url).pathname,
      headers: request.headers,
      body: new Uint8Array(await request.arrayBuffer()),
    };
    requests.push(req);
    return await answer(req);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, requests, shutdown: () => server.shutdown() };
}

const PEM_CHAIN = { "Content-Type": "application/pem-certificate-chain" };

Deno.test("client kit: answers that fail verification are not installed (exit 4)", async () => {
  const work = await Deno.makeTempDir({ prefix: "acmems-client-fake-" });
  const ca = await makeTestCa(`${work}/ca`);
  const otherCa = await makeTestCa(`${work}/other-ca`);
  // A certificate for the right names but another key.
  await runChecked("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${work}/other.key`,
    "-out",
    `${work}/other.pem`,
    "-days",
    "30",
    "-subj",
    "/CN=www.example.test",
    "-addext",
    "subjectAltName=DNS:www.example.test",
  ]);
  const otherKeyCert = await Deno.readTextFile(`${work}/other.pem`);
  let n = 0;
  /** Signs the posted CSR with the test CA, with the CSR's names or `sans` instead. */
  const sign = async (csr: Uint8Array, sans?: string): Promise<string> => {
    const stem = `${work}/signed-${++n}`;
    await Deno.writeFile(`${stem}.csr`, csr);
    const ext = ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=serverAuth"];
    if (sans) ext.push(`subjectAltName=${sans}`);
    await Deno.writeTextFile(`${stem}.ext`, ext.join("\n") + "\n");
    await runChecked("openssl", [
      "x509",
      "-req",
      "-in",
      `${stem}.csr`,
      "-CA",
      ca.caFile,
      "-CAkey",
      `${ca.dir}/ca.key`,
      "-set_serial",
      String(1000 + n),
      "-days",
      "10",
      "-extfile",
      `${stem}.ext`,
      ...(sans ? [] : ["-copy_extensions", "copy"]),
      "-out",
      `${stem}.pem`,
    ]);
    return await Deno.readTextFile(`${stem}.pem`);
  };
  let mode = "";
  const server = fakeServer(async (req) => {
    const headers = { ...PEM_CHAIN, "X-Acmems-Cache": "miss", "X-Acmems-Renew-After": "2999-01-01T00:00:00Z" };
    switch (mode) {
      case "other-key":
        return new Response(otherKeyCert, { headers });
      case "other-names":
        return new Response(await sign(req.body, "DNS:evil.example.test"), { headers });
      case "garbage":
        return new Response("this is not a certificate\n", { headers });
      case "extra":
        return new Response(`${await sign(req.body)}\n<html>proxy says hello</html>\n`, { headers });
      default:
        return new Response(await sign(req.body), { headers });
    }
  });
  try {
    const hostDir = `${work}/host`;
    await Deno.mkdir(hostDir);
    const h = hostFiles(hostDir);
    const args = ["--server", server.url, "--key", h.key, "--cert", h.cert];
    for (
      const [m, extra, why] of [
        ["other-key", [], "not for our key"],
        ["other-names", [], "does not cover"],
        ["garbage", [], "is not just PEM certificates"],
        ["extra", [], "is not just PEM certificates"],
        ["signed", ["--ca", otherCa.caFile], "does not chain"],
      ] as [string, string[], string][]
    ) {
      mode = m;
      const r = await client([...args, ...extra, "www.example.test"]);
      assertExit(r, 4, m);
      assertStringIncludes(r.stderr, why);
      assert(!(await exists(h.cert)), `${m}: nothing installed`);
      assert(!(await exists(h.renewAfter)), `${m}: no renew-after`);
    }
    // The same answer chaining to the right --ca is installed; the chain here is the leaf alone.
    mode = "signed";
    const r = await client([...args, "--ca", ca.caFile, "www.example.test"]);
    assertExit(r, 0, "signed by --ca");
    assertEquals((await Deno.readTextFile(h.renewAfter)).trim(), "2999-01-01T00:00:00Z");
    assertEquals(
      await listDir(hostDir),
      ["host.key", "host.key.csr", "host.pem", "host.pem.renew-after"],
      "no temp files",
    );
  } finally {
    await server.shutdown();
    await removeWorkDir(work);
  }
});

Deno.test("client kit: the request, and the exit status for every answer", async () => {
  const work = await Deno.makeTempDir({ prefix: "acmems-client-status-" });
  let status = 503;
  const server = fakeServer(() =>
    new Response(`reason for ${status}\n`, {
      status,
      headers: status === 429 || status === 503 ? { "Retry-After": "120" } : {},
    })
  );
  try {
    const h = hostFiles(work);
    // A trailing slash on --server is fine; the HMAC covers the exact bytes posted.
    const args = ["--server", `${server.url}/`, "--key", h.key, "--cert", h.cert, "--hmac-key", "k3y with spaces"];
    const expected: [number, number][] = [
      [403, 2],
      [411, 2],
      [413, 2],
      [415, 2],
      [400, 2],
      [404, 2],
      [421, 3],
      [429, 3],
      [503, 3],
      [500, 3],
      [408, 3],
    ];
    for (const [answer, code] of expected) {
      status = answer;
      const r = await client([...args, "www.example.test"]);
      assertExit(r, code, `answer ${answer}`);
      assertStringIncludes(r.stderr, `answered ${answer}: reason for ${answer}`);
      if (answer === 429 || answer === 503) assertStringIncludes(r.stderr, "Retry-After: 120");
    }
    assertEquals(server.requests.length, expected.length, "one request per run, none skipped, no retries");
    const csr = await Deno.readFile(h.csr);
    for (const req of server.requests) {
      assertEquals([req.method, req.path], ["POST", "/sign"]);
      assertEquals(req.headers.get("content-length"), String(csr.length), "Content-Length, not chunked");
      assertEquals(req.body, csr, "the body is the CSR file, byte for byte");
      const key = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode("k3y with spaces"),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, req.body));
      const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(req.headers.get("authentication"), `hmac name=sha256, hash=${hex}`);
    }
    assert(!(await exists(h.cert)), "nothing installed");

    // Nobody listening: try later.
    const down = await client([
      "--server",
      `http://127.0.0.1:${await freePort()}`,
      "--key",
      h.key,
      "--cert",
      h.cert,
      "a.example.test",
    ]);
    assertExit(down, 3, "server down");
    assertStringIncludes(down.stderr, "try again later");
  } finally {
    await server.shutdown();
    await removeWorkDir(work);
  }
});

Deno.test("client kit: the HMAC made in the shell equals HMAC(key, CSR) for every hmac-type and key length", async () => {
  const work = await Deno.makeTempDir({ prefix: "acmems-client-hmac-" });
  const server = fakeServer(() => new Response("no\n", { status: 403 }));
  try {
    const h = hostFiles(work);
    const args = ["--server", server.url, "--key", h.key, "--cert", h.cert];
    const hashes = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" } as const;
    const keys = [
      "k",
      "x".repeat(64),
      "y".repeat(65),
      "z".repeat(128),
      "a long key ".repeat(20) + "end",
      "k\u00e9y \u00fcnicode %s %% \\n \\ ' \"",
    ];
    const cases: [keyof typeof hashes, string, "file" | "env"][] = [];
    for (const type of Object.keys(hashes) as (keyof typeof hashes)[]) {
      for (const key of keys) cases.push([type, key, cases.length % 2 === 0 ? "file" : "env"]);
    }
    const keyFile = `${work}/hmac.key`;
    for (const [type, key, via] of cases) {
      const what = `${type}, ${key.length}-character key from ${via}`;
      // In the file, white space around the key is not part of it.
      await Deno.writeTextFile(keyFile, `\t${key}\r\n\n`, { mode: 0o600 });
      const r = via === "file"
        ? await client([...args, "--hmac-type", type, "--hmac-key-file", keyFile, "www.example.test"])
        : await client([...args, "--hmac-type", type, "www.example.test"], { ACMEMS_HMAC_KEY: key });
      assertExit(r, 2, what);
      const req = server.requests.at(-1)!;
      const cryptoKey = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(key),
        { name: "HMAC", hash: hashes[type] },
        false,
        ["sign"],
      );
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, req.body));
      const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(req.headers.get("authentication"), `hmac name=${type}, hash=${hex}`, what);
    }
    assertEquals(server.requests.length, cases.length);
    // --hmac-key-file and --hmac-key together: a usage error.
    const both = await client([...args, "--hmac-key-file", keyFile, "--hmac-key", "k", "www.example.test"]);
    assertExit(both, 1, "both key options");
    assertStringIncludes(both.stderr, "not both");
  } finally {
    await server.shutdown();
    await removeWorkDir(work);
  }
});

Deno.test("README recipe: the HMAC header is made without the key on any command line", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const hmacFunction = blocks.find((b) => b.includes("hmac_sha256()"));
  const hmacCurl = blocks.find((b) => b.startsWith("curl ") && b.includes("$hash"));
  assert(hmacFunction && hmacCurl, "README has the hmac_sha256 recipe and its curl line");
  const recipe = hmacFunction + hmacCurl;
  const work = await Deno.makeTempDir({ prefix: "acmems-readme-hmac-" });
  const server = fakeServer(() => new Response("no\n", { status: 403 }));
  try {
    const key = "readme-recipe-hmac-key-0123456789";
    await Deno.writeTextFile(`${work}/hmac.key`, `${key}\n`, { mode: 0o600 });
    await runChecked("openssl", [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${work}/host.key`,
      "-subj",
      "/CN=www.example.test",
      "-out",
      `${work}/host.csr`,
    ]);
    const script = recipe
      .replace("/etc/ssl/private/acmems-hmac.key", `${work}/hmac.key`)
      .replace("http://acmems.example.org:1313/sign", `${server.url}/sign`);
    const log = `${work}/argv.log`;
    const env = { PATH: await recordingPath(work, log) };
    for (const shell of ["dash", "bash"]) {
      await Deno.writeTextFile(log, "");
      await run(`/usr/bin/${shell}`, ["-c", script], { cwd: work, env });
      const req = server.requests.at(-1)!;
      const cryptoKey = await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(key),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, req.body));
      const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(req.headers.get("authentication"), `hmac name=sha256, hash=${hex}`, shell);
      const recorded = await linesOf(log);
      assert(recorded.some((l) => l.startsWith("openssl dgst -sha256 -binary")), `${shell}: openssl recorded`);
      assertEquals(leaks(recorded, key), [], `${shell}: no program got the key as an argument`);
    }
  } finally {
    await server.shutdown();
    await removeWorkDir(work);
  }
});

// --- the script itself ----------------------------------------------------------------------------------------------------

Deno.test("client kit: --help prints the interface, bad usage exits 1", async () => {
  const help = await client(["--help"]);
  assertExit(help, 0, "--help");
  assertStringIncludes(help.stdout, `Usage: ${INTERFACE}\n`);
  for (
    const option of [
      "--server",
      "--key",
      "--cert",
      "--ca",
      "--hmac-key-file",
      "--hmac-key",
      "--hmac-type",
      "--reload",
      "--force",
    ]
  ) {
    assertStringIncludes(help.stdout, `  ${option} `);
  }
  assertEquals(help.stderr, "");
  assertExit(await client(["-h"]), 0, "-h");

  const work = await Deno.makeTempDir({ prefix: "acmems-client-usage-" });
  try {
    const ok = ["--server", "http://127.0.0.1:9", "--key", `${work}/k`, "--cert", `${work}/c`];
    const bad: [string[], string][] = [
      [[], "--server URL is required"],
      [["--key", `${work}/k`, "--cert", `${work}/c`, "a.example.test"], "--server URL is required"],
      [["--server", "http://127.0.0.1:9", "--cert", `${work}/c`, "a.example.test"], "--key FILE is required"],
      [["--server", "http://127.0.0.1:9", "--key", `${work}/k`, "a.example.test"], "--cert FILE is required"],
      [ok, "at least one NAME"],
      [[...ok, "--bogus", "a.example.test"], "unknown option --bogus"],
      [[...ok, "--hmac-type", "md5", "a.example.test"], "--hmac-type"],
      [[...ok, "--server"], "needs a value"],
      [[...ok, "bad name!"], "is not a DNS name"],
      [[...ok, "--", "-x.example.test"], "is not a DNS name"],
      [["--server", "ftp://x", "--key", `${work}/k`, "--cert", `${work}/c`, "a.example.test"], "http:// or https://"],
      [["--server", "http://x", "--key", `${work}/k`, "--cert", `${work}/none/c`, "a.example.test"], "does not exist"],
    ];
    for (const [args, message] of bad) {
      const r = await client(args);
      assertExit(r, 1, `usage ${JSON.stringify(args)}`);
      assertStringIncludes(r.stderr, message);
    }
    assertEquals(await listDir(work), [], "a usage error creates nothing");
  } finally {
    await removeWorkDir(work);
  }
});

Deno.test("client kit: POSIX sh, shellcheck clean, executable", async () => {
  const text = await Deno.readTextFile(SCRIPT);
  assert(text.startsWith("#!/bin/sh\n"), "#!/bin/sh");
  assert(((await Deno.stat(SCRIPT)).mode! & 0o111) === 0o111, "executable");
  await runChecked("shellcheck", ["--shell=sh", "--severity=style", SCRIPT]);
  // dash (Debian's /bin/sh) parses it; so does bash in POSIX mode.
  await runChecked("dash", ["-n", SCRIPT]);
  await runChecked("bash", ["--posix", "-n", SCRIPT]);
});
