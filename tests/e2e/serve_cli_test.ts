/**
 * `acmems serve` as a process: refusing to start without an account, starting without a CA, stopping on signals
 * (the first test needs no peers: its CA URL points at a loopback port where nothing listens), signals while it is
 * still connecting to the CA (a stub that holds its answer), exiting when pebble knows no account for the key and the
 * terms are not accepted, and a graceful stop while a /sign request is still waiting for the CA.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { type Acmems, runAcmems, startAcmems } from "../support/acmems.ts";
import { type ConfigSpec, http01, ipAuth, NO_STORAGE, testConfig, writeConfig } from "../support/config.ts";
import { startDelayProxy } from "../support/delay_proxy.ts";
import { freePorts } from "../support/ports.ts";
import { startPebble } from "../support/pebble.ts";
import { run } from "../support/process.ts";
import { Cleanup, startStack } from "../support/stack.ts";
import { assertStatus, countLines, curlSign, hostCsr, verifyIssued } from "./host_tools.ts";

function config(
  opts: { caPort?: number; caUrl?: string; caFile?: string; mgmtPort: number; httpPort: number; acceptTerms: boolean },
): ConfigSpec {
  return {
    account: {
      "acme-server": opts.caUrl ?? `https://127.0.0.1:${opts.caPort}/dir`,
      "ca-file": opts.caFile,
      dir: "account",
      "accept-terms-of-service": opts.acceptTerms,
    },
    mgmt: { listener: `127.0.0.1:${opts.mgmtPort}` },
    verifications: { http: http01(opts.httpPort) },
    storages: { none: NO_STORAGE },
    auth: { local: ipAuth() },
  };
}

Deno.test("acmems serve as a process: no account, no CA, signals", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-e2e-cli-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const [caPort, mgmt1, http1, mgmt2, http2] = await freePorts(5);

    await t.step("no account key and no terms accepted: exits 1 naming acmems register", async () => {
      const dir = `${work}/no-account`;
      await Deno.mkdir(dir);
      await writeConfig(`${dir}/acmems.ini`, config({ caPort, mgmtPort: mgmt1, httpPort: http1, acceptTerms: false }));
      const started = Date.now();
      const r = await runAcmems(["serve", `${dir}/acmems.ini`], { cwd: dir, timeoutMs: 20_000 });
      assert(!r.timedOut, `serve did not exit: ${r.output}`);
      assertEquals(r.code, 1, r.output);
      assertStringIncludes(r.output, "acmems register");
      assertMatch(r.output, /no account key at \S*account\/account\.pem/);
      // It created nothing and bound nothing.
      assertEquals(await Deno.stat(`${dir}/account/account.pem`).then(() => true, () => false), false);
      const probe = Deno.listen({ hostname: "127.0.0.1", port: mgmt1 });
      probe.close();
      console.log(`  exit 1 after ${Date.now() - started} ms`);
    });

    // Both instances start while the CA is unreachable; each is stopped by a different signal.
    const starts = await Promise.allSettled([
      startAcmems({ config: config({ caPort, mgmtPort: mgmt1, httpPort: http1, acceptTerms: true }) }),
      startAcmems({ config: config({ caPort, mgmtPort: mgmt2, httpPort: http2, acceptTerms: true }) }),
    ]);
    for (const s of starts) if (s.status === "fulfilled") cleanup.add(() => s.value.stop());
    const [first, second]: Acmems[] = starts.map((s) => {
      if (s.status === "rejected") throw s.reason;
      return s.value;
    });

    await t.step("CA unreachable at start: serve still starts, /sign answers 503 with Retry-After", async () => {
      const log = await first.log();
      assertMatch(log, /acme ca unreachable, retrying/);
      assertMatch(log, /INFO +ready account=unavailable/);
      const csr = await hostCsr(work, ["www.example.test"]);
      const answer = await curlSign(first.mgmtUrl, csr.csrFile);
      assertStatus(answer, 503);
      assertMatch(answer.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/);
      assertStringIncludes(answer.body, "The ACME CA is not available");
    });

    await t.step("a second serve on the same management address exits 1 naming it, creating nothing", async () => {
      const dir = `${work}/second`;
      await Deno.mkdir(dir);
      // A fresh config with state on disk: account key, a file cache, a log file. None of it may appear.
      const spec = config({ caPort, mgmtPort: mgmt1, httpPort: (await freePorts(1))[0], acceptTerms: true });
      spec.storages = { cache: { type: "file", directory: "cache" } };
      spec.logging = { destination: "acmems.log" };
      await writeConfig(`${dir}/acmems.ini`, spec);
      const r = await runAcmems(["serve", `${dir}/acmems.ini`], { cwd: dir, timeoutMs: 20_000 });
      assertEquals(r.code, 1, r.output);
      assertStringIncludes(r.output, `Cannot listen on 127.0.0.1:${mgmt1} for mgmt`);
      assertStringIncludes(r.output, "already in use");
      const left: string[] = [];
      for await (const entry of Deno.readDir(dir)) left.push(entry.name);
      assertEquals(left.sort(), ["acmems.ini"], "no account dir, no storage dir, no log file");
    });

    await t.step("SIGTERM: exits 0 and logs stopped", async () => {
      const status = await first.stop();
      assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await first.logTail());
      const log = await first.log();
      assertMatch(log, /INFO +stopping reason=SIGTERM/);
      assertMatch(log.trimEnd().split("\n").at(-1) ?? "", /INFO +stopped$/);
    });

    await t.step("SIGINT: exits 0 and logs stopped", async () => {
      Deno.kill(second.pid, "SIGINT");
      const status = await second.status;
      assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await second.logTail());
      await second.stop();
      const log = await second.log();
      assertMatch(log, /INFO +stopping reason=SIGINT/);
      assertMatch(log.trimEnd().split("\n").at(-1) ?? "", /INFO +stopped$/);
    });
  } finally {
    await cleanup.run();
  }
});

Deno.test("SIGTERM while a /sign waits for the CA: new requests refused, the waiting one gets its certificate", async () => {
  const [vaPort, httpPort, mgmtPort] = await freePorts(3);
  // pebble's VA -> (held 3 s) -> acmems' http-01 listener: every validation takes 3 s.
  const proxy = startDelayProxy({ port: vaPort, targetPort: httpPort, delayMs: 3_000 });
  let stack;
  try {
    stack = await startStack({
      prefix: "acmems-e2e-drain-",
      pebble: { httpPort: vaPort },
      rootFile: true,
      acmems: ({ pebble }) => ({
        config: testConfig({ ca: pebble, mgmtPort, httpPort, storages: { none: NO_STORAGE } }),
      }),
    });
  } catch (e) {
    await proxy.stop();
    throw e;
  }
  const { work, rootFile, cleanup } = stack;
  const acmems = stack.acmems!;
  cleanup.add(() => proxy.stop());
  try {
    const names = ["draining.example.test"];
    const csr = await hostCsr(work, names);
    const pending = curlSign(acmems.mgmtUrl, csr.csrFile);
    // SIGTERM once the order is under way (validation is being held by the proxy).
    const waitUntil = Date.now() + 10_000;
    while (
      countLines(await acmems.log(), /acme new order names=draining\.example\.test/) === 0 || proxy.accepted === 0
    ) {
      assert(Date.now() < waitUntil, `the order did not start: ${await acmems.logTail()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const signalled = Date.now();
    Deno.kill(acmems.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    // The management listener is closed at once: a new host gets "connection refused" (curl exit 7).
    const late = await run("curl", [
      "-sS",
      "--max-time",
      "5",
      "--data-binary",
      `@${csr.csrFile}`,
      `${acmems.mgmtUrl}/sign`,
    ]);
    assertEquals(late.code, 7, `a request after SIGTERM: ${late.output}`);

    const answer = await pending;
    await verifyIssued(answer, csr, names, rootFile, work);
    const status = await acmems.status;
    const stopMs = Date.now() - signalled;
    assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await acmems.logTail());
    assert(stopMs < 10_000, `stopping took ${stopMs} ms`);
    const events = (await acmems.log()).trimEnd().split("\n");
    const at = (re: RegExp) => events.findIndex((l) => re.test(l));
    assert(at(/stopping reason=SIGTERM/) >= 0 && at(/stopping reason=SIGTERM/) < at(/ sign .*status=200/), "order");
    assertMatch(events.at(-1) ?? "", /INFO +stopped$/);
    console.log(`  in-flight request answered 200; exit 0 ${stopMs} ms after SIGTERM`);
  } finally {
    await cleanup.run();
  }
});

/** Polls `check` every 50 ms until it is true; fails with `what` and the log tail after `timeoutMs`. */
async function waitFor(proc: Acmems, what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert(Date.now() < deadline, `${what}:\n${await proc.logTail()}`);
    assert(proc.exitStatus === undefined, `acmems exited (${JSON.stringify(proc.exitStatus)}) while waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("acmems serve: SIGHUP and SIGTERM while it still connects to the CA", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-e2e-startup-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  // A CA that answers its directory only when the test says so (then 404: the session is "unavailable"): acmems'
  // listeners are up, and its start waits for that answer.
  const gates: PromiseWithResolvers<void>[] = [];
  const newGate = () => {
    gates.push(Promise.withResolvers<void>());
    return gates.at(-1)!;
  };
  let hits = 0;
  const ca = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    hits++;
    await gates.at(-1)?.promise;
    return new Response("not a CA\n", { status: 404 });
  });
  cleanup.add(() => ca.shutdown());
  cleanup.add(() => gates.forEach((g) => g.resolve()));
  const caUrl = `http://127.0.0.1:${ca.addr.port}/dir`;
  const start = async (name: string) => {
    const dir = `${work}/${name}`;
    await Deno.mkdir(dir);
    const [mgmtPort, httpPort] = await freePorts(2);
    const log = () => Deno.readTextFile(`${dir}/acmems.log`).catch(() => "");
    const before = hits;
    // Up when the mgmt listener is up and the CA was asked.
    const proc = await startAcmems({
      name,
      dir,
      config: config({ caUrl, mgmtPort, httpPort, acceptTerms: true }),
      outputFile: `${dir}/acmems.log`,
      ready: { check: async () => /listening role=mgmt/.test(await log()) && hits > before },
      readyTimeoutMs: 20_000,
    });
    cleanup.add(() => proc.stop());
    return { proc, dir, configFile: proc.configFile, log };
  };
  try {
    await t.step("SIGHUP during the start: not fatal, the reload runs once started", async () => {
      const gate = newGate();
      const { proc, configFile, log } = await start("hup");
      // The reload it runs must see this block.
      await Deno.writeTextFile(configFile, '\n[auth "more"]\nip = 127.0.0.2\ndomain = *.more.test\n', { append: true });
      Deno.kill(proc.pid, "SIGHUP");
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(proc.exitStatus, undefined, `SIGHUP during the start ended acmems:\n${await proc.logTail()}`);
      assert(!/ready account=/.test(await log()), "still starting");
      gate.resolve();
      await waitFor(proc, "the queued reload ran", async () => /config reloaded .*auth=2/.test(await log()));
      const lines = (await log()).split("\n");
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      assert(at(/INFO +ready account=unavailable/) >= 0, await proc.logTail());
      assert(at(/INFO +ready account=/) < at(/reloading config/), "the reload runs after the start");
      const status = await proc.stop();
      assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await proc.logTail());
    });

    await t.step("SIGTERM during the start: a clean stop with exit 0", async () => {
      const gate = newGate();
      const { proc, log } = await start("term");
      Deno.kill(proc.pid, "SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      gate.resolve();
      const status = await proc.status;
      assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await proc.logTail());
      const text = await log();
      assertMatch(text, /INFO +stopping reason=SIGTERM/);
      assert(!/INFO +ready account=/.test(text), "no ready line after a stop during the start");
      assertMatch(text.trimEnd().split("\n").at(-1) ?? "", /INFO +stopped$/);
    });
  } finally {
    await cleanup.run();
  }
});

Deno.test("acmems serve: a key the CA knows no account for, terms not accepted: exits 1 naming the command", async () => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-e2e-noacct-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const pebble = await startPebble({});
    cleanup.add(() => pebble.stop());
    const [mgmtPort, httpPort] = await freePorts(2);
    const configFile = await writeConfig(
      `${work}/acmems.ini`,
      config({ caUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, httpPort, acceptTerms: false }),
    );
    const key = await runAcmems(["register", "--gen-key", configFile], { cwd: work, timeoutMs: 20_000 });
    assertEquals(key.code, 0, key.output);

    const r = await runAcmems(["serve", configFile], { cwd: work, timeoutMs: 30_000 });
    assert(!r.timedOut, `serve kept running: ${r.output}`);
    assertEquals(r.code, 1, r.output);
    assertStringIncludes(r.output, "the ACME account cannot be used: no ACME account for this key");
    assertStringIncludes(r.output, `run acmems register --register --accept-terms-of-service ${configFile}`);
    assertEquals(await Deno.stat(`${work}/account/registration.json`).then(() => true, () => false), false);
    // Its listeners are closed again.
    Deno.listen({ hostname: "127.0.0.1", port: mgmtPort }).close();
  } finally {
    await cleanup.run();
  }
});
