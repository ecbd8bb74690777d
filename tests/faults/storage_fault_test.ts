/**
 * Fault: the cache storage is full or read-only. /sign must still answer — with the fresh certificate (uncached) or
 * 503 with Retry-After, never 500 — and the log must say why (the storage, the path or the OS error). /ready must
 * report the storage as not writable.
 *
 * CI runs as root, for whom file modes stop nothing, so the faults are real file systems: `acmems serve` runs in a
 * private mount namespace (`unshare -m`) where its cache directory is a 64 KiB tmpfs, either filled up completely,
 * filled up to one free page (the lock file fits, the entry does not), or remounted read-only. The test process
 * looks into that namespace through /proc/PID/root. Where `unshare` is not permitted these tests fail. The same
 * behaviour is also checked by injecting the errors through the storage (in-process, with the fake CA): the
 * entry write fails after the order (`FileStorage`'s `beforeRename` hook), or the lock cannot be taken (a
 * `FileStorage` whose `claim` throws what a full or read-only file system makes it throw). Those two run
 * everywhere.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { FakeCa } from "../support/fake_ca.ts";
import { startAcmems } from "../support/acmems.ts";
import { configText, fileStorage, http01, ipAuth } from "../support/config.ts";
import { freePorts } from "../support/ports.ts";
import { run } from "../support/process.ts";
import { load } from "../unit/config/helpers.ts";
import { Http01Responder } from "../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../src/challenges/http01/solver.ts";
import { IssuanceService } from "../../src/issuance/service.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { StorageError } from "../../src/storage/errors.ts";
import { createCsrParser } from "../../src/csr/parser.ts";
import { createMgmtHandler } from "../../src/http/mgmt_router.ts";
import { compilePolicy } from "../../src/policy/authorize.ts";
import { startStack } from "../support/stack.ts";
import { assertCertificate, faultConfig, quickCsr, sign, type Signed } from "./_stack.ts";

type Fault = "full" | "nearly-full" | "read-only";

/** Mounts the tmpfs, applies the fault, then execs acmems ("$@"). Runs as the shell inside `unshare -m`. */
const WRAPPER = `set -eu
mount -t tmpfs -o size=64k,mode=0700 acmems-cache "$CACHE"
mkdir -p "$CACHE/challenges"
case "$FAULT" in
  full) dd if=/dev/zero of="$CACHE/filler" bs=4096 count=64 2>/dev/null || true ;;
  nearly-full) dd if=/dev/zero of="$CACHE/filler" bs=4096 count=15 2>/dev/null || true ;;
  read-only) mount -o remount,ro "$CACHE" ;;
esac
exec "$@"
`;

let unshareProblem: Promise<string | null> | undefined;

/** Null when `unshare -m` with a tmpfs works here, else why not. */
function unshareWorks(): Promise<string | null> {
  unshareProblem ??= (async () => {
    const probe = await Deno.makeTempDir({ prefix: "acmems-unshare-probe-" });
    try {
      const r = await run("unshare", [
        "-m",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        `mount -t tmpfs -o size=64k tmpfs "${probe}" && touch "${probe}/x" && mount -o remount,ro "${probe}"`,
      ]).catch((e) => ({ code: -1, output: String(e) }));
      return r.code === 0 ? null : `unshare -m + mount -t tmpfs failed (exit ${r.code}): ${r.output.trim()}`;
    } finally {
      await Deno.remove(probe, { recursive: true }).catch(() => {});
    }
  })();
  return unshareProblem;
}

function describe(s: Signed): string {
  return `${s.status} after ${s.ms} ms (Retry-After ${s.headers.get("retry-after")}): ${s.body.trim().slice(0, 300)}`;
}

/** Log lines (JSON) at warning or error level that name the storage problem: the directory or the OS error. */
function explains(log: string, cacheDir: string): string[] {
  return log.split("\n").filter((l) =>
    /"level":"(warning|error)"/.test(l) &&
    (l.includes(cacheDir) || /no space left|read-only file system|ENOSPC|EROFS|os error (28|30)/i.test(l))
  );
}

for (const fault of ["full", "nearly-full", "read-only"] as Fault[]) {
  Deno.test(`fault: cache storage ${fault} (tmpfs in a private mount namespace): /sign answers and the log says why`, async (t) => {
    const problem = await unshareWorks();
    // A peer that cannot be set up fails the test loudly; it is never reported as a pass.
    if (problem) throw new Error(`${problem}: this fault test needs unshare -m and tmpfs (run as root)`);
    const [httpPort, mgmtPort] = await freePorts(2);
    const { work: dir, pebble, cleanup } = await startStack({
      prefix: `acmems-fault-${fault}-`,
      pebble: { httpPort },
    });
    try {
      const cacheDir = `${dir}/cache`;
      await Deno.mkdir(cacheDir);
      Deno.env.set("CACHE", cacheDir);
      Deno.env.set("FAULT", fault);
      let acmems;
      try {
        acmems = await startAcmems({
          dir,
          config: faultConfig({ pebble, mgmtPort, httpPort, cacheDir }),
          wrapperCommand: ["unshare", "-m", "--propagation", "private", "/bin/sh"],
          wrapperScript: WRAPPER,
        });
      } finally {
        Deno.env.delete("CACHE");
        Deno.env.delete("FAULT");
      }
      cleanup.add(() => acmems.stop());
      const inside = `/proc/${acmems.proc.pid}/root${cacheDir}`;
      const df = await run("nsenter", ["-t", String(acmems.proc.pid), "-m", "df", "-k", cacheDir]);
      console.log(`  ${fault}: ${df.output.trim().split("\n").at(-1)}`);

      await t.step("/sign still answers: the certificate (uncached) or 503 with Retry-After, never 500", async () => {
        for (let i = 0; i < 2; i++) {
          const names = [`${fault}-${i}.example.test`];
          const csr = await quickCsr(names);
          const answer = await sign(acmems.mgmtUrl, csr.pem);
          console.log(`  ${fault}, request ${i + 1}: ${describe(answer)}`);
          assert(answer.status === 200 || answer.status === 503, `${fault}: ${describe(answer)}`);
          if (answer.status === 200) assertCertificate(answer, names, csr.publicKey, fault);
          else assert(Number(answer.headers.get("retry-after")) > 0, `503 without Retry-After: ${describe(answer)}`);
        }
      });

      await t.step("the log says why", async () => {
        const lines = explains(await acmems.log(), cacheDir);
        assert(
          lines.length > 0,
          `no warning or error names the storage problem:\n${(await acmems.log()).slice(-3000)}`,
        );
        console.log(`  ${fault}: log says: ${lines.at(-1)!.slice(0, 400)}`);
      });

      await t.step("/ready reports the storage as not writable", async () => {
        const ready = await fetch(`${acmems.mgmtUrl}/ready`);
        const text = await ready.text();
        assertEquals(ready.status, 503, `/ready with a ${fault} cache: ${ready.status} ${text.trim()}`);
        assert(text.includes(cacheDir) || /storage/.test(text), text);
      });

      // Nothing torn is left in the full file system.
      for await (const item of Deno.readDir(inside)) {
        if (!item.name.endsWith(".json")) continue;
        JSON.parse(await Deno.readTextFile(`${inside}/${item.name}`));
      }
    } finally {
      await cleanup.run();
    }
  });
}

/** A FileStorage whose lock cannot be taken: what `claim` throws on a full or read-only file system. */
class UnlockableStorage extends FileStorage {
  override claim(): Promise<never> {
    return Promise.reject(
      new StorageError(`Cannot open the lock file ${this.directory}/x.lock: Read-only file system (os error 30)`),
    );
  }
}

/**
 * /sign in-process (fake CA) over a file storage with an injected fault; returns the answer, the log lines that
 * explain it and how many certificates the CA issued.
 */
async function signWithInjectedFault(
  make: (directory: string, log: ReturnType<typeof memoryLogger>) => FileStorage,
): Promise<{ signed: Signed; why: string[]; issued: number; names: string[]; publicKey: ArrayBuffer }> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-fault-inject-" });
  const result = load(configText({
    account: { dir: `${dir}/account` },
    mgmt: { "sign-timeout": "5s" },
    verifications: { http: http01(5002) },
    storages: { cache: fileStorage(`${dir}/cache`) },
    auth: { local: ipAuth() },
  }));
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const config = result.config;
  const log = memoryLogger("debug");
  const responder = new Http01Responder();
  const fake = new FakeCa({
    httpCheck: async (name, token) => {
      const r = await responder.handle(
        new Request(`http://${name}/.well-known/acme-challenge/${token}`, { headers: { host: name } }),
      );
      return r.status === 200 ? await r.text() : undefined;
    },
  });
  const storage = make(`${dir}/cache`, log);
  const issuer = new IssuanceService({
    client: () => fake.asClient(),
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: new Map([["cache", storage]]),
    log,
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
  });
  try {
    const names = ["injected.example.test"];
    const csr = await quickCsr(names);
    const body = new TextEncoder().encode(csr.pem);
    const response = await handler(
      new Request("http://127.0.0.1:1313/sign", {
        method: "POST",
        body,
        headers: { "content-length": String(body.length) },
      }),
      {
        remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 4000 },
        completed: Promise.resolve(),
      } as Deno.ServeHandlerInfo,
    );
    const signed: Signed = { status: response.status, body: await response.text(), headers: response.headers, ms: 0 };
    const why = log.lines.filter((l) =>
      /"level":"(warning|error)"/.test(l) && (l.includes(`${dir}/cache`) || /No space left|os error (28|30)/i.test(l))
    );
    return { signed, why, issued: fake.finalized, names, publicKey: csr.publicKey };
  } finally {
    await issuer.drain();
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function assertAnswered(r: Awaited<ReturnType<typeof signWithInjectedFault>>, what: string): void {
  console.log(`  ${what}: ${describe(r.signed)}; ${r.issued} certificate(s) issued by the CA`);
  assert(r.why.length > 0, `${what}: the log does not say why`);
  assert(r.signed.status === 200 || r.signed.status === 503, `${what}: ${describe(r.signed)}`);
  if (r.signed.status === 200) assertCertificate(r.signed, r.names, r.publicKey, `${what}: uncached`);
  else assert(Number(r.signed.headers.get("retry-after")) > 0, `${what}: 503 without Retry-After`);
}

Deno.test("fault (injected): the cache entry cannot be written after the order: /sign still answers", async () => {
  const r = await signWithInjectedFault((directory, log) =>
    new FileStorage({
      name: "cache",
      directory,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log,
      beforeRename: () => {
        throw new Error("No space left on device (os error 28)");
      },
    })
  );
  assertAnswered(r, "entry write fails (beforeRename)");
});

Deno.test("fault (injected): the cache lock cannot be taken: /sign still answers", async () => {
  const r = await signWithInjectedFault((directory, log) =>
    new UnlockableStorage({ name: "cache", directory, renewWithinDays: 14, renewActiveDays: 30, log })
  );
  assertAnswered(r, "lock cannot be taken");
});
