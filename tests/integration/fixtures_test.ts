/**
 * The peer fixtures in tests/support/ against the real programs: pebble 2.10, BIND 9, nginx, openssl.
 * Run: deno test --allow-all --sanitize-ops --sanitize-resources tests/integration/fixtures_test.ts
 */
import { makeCsr } from "../support/csr.ts";
import { startNamed } from "../support/named.ts";
import { startNginx } from "../support/nginx.ts";
import { startPebble } from "../support/pebble.ts";
import { freePort, freePorts } from "../support/ports.ts";
import { run, runChecked, spawnLogged } from "../support/process.ts";
import { makeTestCa } from "../support/test_ca.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`assertion failed${msg ? `: ${msg}` : ""}\n  actual:   ${a}\n  expected: ${e}`);
}

async function assertRejects(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof Error, "rejected with an Error");
    return e;
  }
  throw new Error("assertion failed: expected a rejection");
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** After stop(): the process is gone and its work dir removed. */
async function assertStopped(pid: number, dir: string): Promise<void> {
  assert(!(await pathExists(`/proc/${pid}`)), `process ${pid} still exists`);
  assert(!(await pathExists(dir)), `work dir ${dir} still exists`);
}

/** The PID a startup error names ("pebble (pid 123) ..."): it must not be running any more. */
async function assertErrorPidGone(err: Error): Promise<void> {
  const pid = err.message.match(/\(pid (\d+)\)/)?.[1];
  assert(pid, `error names the pid: ${err.message.slice(0, 200)}`);
  assert(!(await pathExists(`/proc/${pid}`)), `failed peer ${pid} was left running`);
}

/** HTTP/1.1 GET over a raw socket, so the Host header is ours (fetch always sends the URL's host). */
async function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) chunks.push(buf.slice(0, n));
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const [head, ...rest] = text.split("\r\n\r\n");
    return { status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") };
  } finally {
    conn.close();
  }
}

/** A Deno.serve upstream on a free loopback port that records what it saw. */
function upstream(answer: (req: Request) => Response) {
  const seen: { path: string; host: string | null; xff: string | null; realIp: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push({
      path: new URL(req.url).pathname,
      host: req.headers.get("host"),
      xff: req.headers.get("x-forwarded-for"),
      realIp: req.headers.get("x-real-ip"),
    });
    return answer(req);
  });
  return { server, seen, address: `127.0.0.1:${server.addr.port}` };
}

Deno.test("freePort returns distinct bindable loopback ports", async () => {
  const a = await freePort();
  const [b, c] = await freePorts(2);
  assert(b !== c, "freePorts are distinct");
  for (const port of [a, b, c]) {
    const l = Deno.listen({ hostname: "127.0.0.1", port });
    l.close();
  }
  const v6 = await freePort("::1");
  assert(v6 > 0, "IPv6 loopback port");
});

Deno.test("process: waitFor reports exit and timeout with the log; stop() escalates to SIGKILL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-test-" });
  try {
    const quitter = spawnLogged({
      name: "quitter",
      command: "/bin/sh",
      args: ["-c", "echo boom >&2; exit 3"],
      logFile: `${dir}/quitter.log`,
    });
    const exited = await assertRejects(() => quitter.waitFor(() => Promise.resolve(false)));
    assert(
      exited.message.includes("exited with code 3 before it was ready") && exited.message.includes("boom"),
      exited.message,
    );
    assertEquals((await quitter.stop()).code, 3);

    // Ignores SIGTERM: stop() must fall back to SIGKILL after the grace period and still await the exit.
    const stubborn = spawnLogged({
      name: "stubborn",
      command: "/bin/sh",
      args: ["-c", "trap '' TERM; echo waiting; while :; do sleep 0.05; done"],
      logFile: `${dir}/stubborn.log`,
    });
    const late = await assertRejects(() => stubborn.waitFor(() => Promise.resolve(false), { timeoutMs: 300 }));
    assert(late.message.includes("was not ready within 300 ms") && late.message.includes("waiting"), late.message);
    const started = Date.now();
    const status = await stubborn.stop(300);
    assertEquals(status.signal, "SIGKILL");
    assert(Date.now() - started >= 300, "waited for the grace period first");
    assert(!(await pathExists(`/proc/${stubborn.pid}`)), "stubborn process is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("makeTestCa: server cert chains to the CA and names localhost, 127.0.0.1, ::1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-test-" });
  try {
    const ca = await makeTestCa(`${dir}/ca`);
    assert(ca.caPem.includes("BEGIN CERTIFICATE"), "CA PEM");
    const verify = await runChecked("openssl", ["verify", "-CAfile", ca.caFile, ca.serverCertFile]);
    assert(verify.stdout.includes(": OK"), verify.output);
    const text = (await runChecked("openssl", ["x509", "-in", ca.serverCertFile, "-noout", "-text"])).stdout;
    assert(/DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/.test(text), text);
    assert(text.includes("ASN1 OID: prime256v1"), "EC P-256");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("makeCsr: openssl CSRs with the requested SANs and key types", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-test-" });
  try {
    const rsa = await makeCsr({ names: ["www.example.test", "*.example.test", "127.0.0.1"], key: "rsa-2048", dir });
    const rsaText = (await runChecked("openssl", ["req", "-in", rsa.csrFile, "-noout", "-text", "-verify"])).output;
    assert(rsaText.includes("verify OK") || rsaText.includes("Certificate request self-signature verify OK"), rsaText);
    assert(rsaText.includes("DNS:www.example.test, DNS:*.example.test, IP Address:127.0.0.1"), rsaText);
    assert(rsaText.includes("Public-Key: (2048 bit)") && rsaText.includes("CN = www.example.test"), rsaText);
    assert(rsa.keyPem.includes("BEGIN PRIVATE KEY") && rsa.csrPem.includes("BEGIN CERTIFICATE REQUEST"), "PEMs");

    const ec = await makeCsr({
      names: ["a.example.test"],
      cn: "",
      key: "ec-p384",
      extraAddext: ["keyUsage=critical,digitalSignature"],
    });
    const ecText = (await runChecked("openssl", ["req", "-in", ec.csrFile, "-noout", "-text"])).stdout;
    assert(ecText.includes("NIST CURVE: P-384") && ecText.includes("Digital Signature"), ecText);
    assert(/Subject:\s*\n/.test(ecText), `empty subject: ${ecText}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pebble 2.10: directory has renewalInfo and meta.profiles, management port serves the root", async () => {
  const pebble = await startPebble();
  try {
    const client = Deno.createHttpClient({ caCerts: [pebble.caPem] });
    const dir = await (await fetch(pebble.directoryUrl, { client })).json();
    client.close();
    assert(typeof dir.renewalInfo === "string" && dir.renewalInfo.includes("/renewalInfo"), JSON.stringify(dir));
    assertEquals(Object.keys(dir.meta.profiles).sort(), ["default", "shortlived"]);
    assertEquals(dir.meta.externalAccountRequired, false);
    assert(dir.newNonce.startsWith(pebble.directoryUrl.replace(/\/dir$/, "")), "endpoints on the same origin");

    const root = await pebble.rootPem();
    assert(root.startsWith("-----BEGIN CERTIFICATE-----"), root);
    const rootText = await runChecked("openssl", ["x509", "-noout", "-subject"], { stdin: root });
    assert(rootText.stdout.includes("Pebble Root CA"), rootText.stdout);

    // The override endpoint exists and checks the serial: our own test cert was not issued by pebble.
    const foreign = await Deno.readTextFile(`${pebble.dir}/certs/server.pem`);
    const err = await assertRejects(() => pebble.setRenewalInfo(foreign, "{}"));
    assert(err.message.includes("HTTP 404"), err.message);

    const log = await pebble.logTail(100);
    for (
      const line of ["Disabling random VA sleeps", "reject 0% of good nonces", "authz reuse for each identifier 0%"]
    ) {
      assert(log.includes(line), `log has "${line}"`);
    }
  } finally {
    await pebble.stop();
  }
  await assertStopped(pebble.pid, pebble.dir);
});

Deno.test("pebble: EAB required, custom profiles and dnsServer reach the config", async () => {
  await using named = await startNamed();
  const pebble = await startPebble({
    eabKeys: { "kid-1": base64url(crypto.getRandomValues(new Uint8Array(32))) },
    eabRequired: true,
    profiles: { classic: { description: "c", validityPeriod: 86_400 } },
    dnsServer: named.address,
    nonceReject: 20,
  });
  try {
    const dir = await pebble.directory() as { meta: { externalAccountRequired: boolean; profiles: object } };
    assertEquals(dir.meta.externalAccountRequired, true);
    assertEquals(dir.meta.profiles, { classic: "c" });
    const log = await pebble.logTail(100);
    // Proves -strict=false did not swallow -dnsserver (toolchain §2).
    assert(log.includes(`Using custom DNS resolver for ACME challenges: ${named.address}`), log);
    assert(log.includes("reject 20% of good nonces"), log);
  } finally {
    await pebble.stop();
  }
  await assertStopped(pebble.pid, pebble.dir);
});

Deno.test("named: SOA, IP-ACL update over TCP, TSIG zone refuses unsigned and accepts signed updates", async () => {
  const named = await startNamed({
    records: ["_acme-challenge.cname IN CNAME _acme-challenge.delegated.dns01.test."],
    extraZones: [{ name: "dns01.test", updatePolicy: ["grant acmems-key zonesub TXT"] }],
  });
  try {
    const soa = await runChecked("dig", ["@127.0.0.1", "-p", String(named.port), "+short", "example.test", "SOA"]);
    assert(soa.stdout.startsWith("ns.example.test. hostmaster.example.test. 1 "), soa.output);
    const soa6 = await runChecked("dig", ["@::1", "-p", String(named.port), "+short", "tsig.test", "SOA"]);
    assert(soa6.stdout.startsWith("ns.tsig.test. "), `also listening on ::1: ${soa6.output}`);
    assertEquals(await named.dig("anything.example.test"), ["127.0.0.1"]);
    assertEquals(await named.dig("unreachable.example.test"), ["127.0.0.2"]);
    assertEquals(await named.dig("_acme-challenge.cname.example.test", "CNAME"), [
      "_acme-challenge.delegated.dns01.test.",
    ]);

    // example.test: IP ACL, nsupdate -v is TCP.
    const open = await named.nsupdate([
      "zone example.test",
      'update add _acme-challenge.www.example.test. 60 IN TXT "ip-acl"',
    ]);
    assertEquals(open.code, 0, open.output);
    assertEquals(await named.dig("_acme-challenge.www.example.test", "TXT"), ['"ip-acl"']);

    // tsig.test: unsigned is REFUSED, nsupdate -y with the fixture key is accepted, a wrong secret is NOTAUTH.
    const add = ["zone tsig.test", 'update add _acme-challenge.tsig.test. 60 IN TXT "signed"'];
    const unsigned = await named.nsupdate(add);
    assert(unsigned.code !== 0 && unsigned.output.includes("REFUSED"), unsigned.output);
    const k = named.tsig;
    const script = `server 127.0.0.1 ${named.port}\n${add.join("\n")}\nsend\n`;
    const signed = await run("nsupdate", ["-v", "-y", `${k.algorithm}:${k.name}:${k.secret}`], { stdin: script });
    assertEquals(signed.code, 0, signed.output);
    assertEquals(await named.dig("_acme-challenge.tsig.test", "TXT"), ['"signed"']);
    const wrong = await named.nsupdate(add, { key: { ...k, secret: btoa("x".repeat(32)) } });
    assert(wrong.code !== 0 && wrong.output.includes("NOTAUTH"), wrong.output);

    // Extra zone with update-policy: TXT allowed with the key, A refused even with it.
    const txt = await named.nsupdate(["zone dns01.test", 'update add x.dns01.test. 60 IN TXT "p"'], { key: true });
    assertEquals(txt.code, 0, txt.output);
    const a = await named.nsupdate(["zone dns01.test", "update add y.dns01.test. 60 IN A 127.0.0.9"], { key: true });
    assert(a.code !== 0 && a.output.includes("REFUSED"), a.output);

    const log = await named.logTail(200);
    assert(log.includes("update 'tsig.test/IN' denied"), log);
    assert(log.includes('signer "acmems-key" approved'), log);
  } finally {
    await named.stop();
  }
  await assertStopped(named.pid, named.dir);
});

Deno.test("nginx: forwards acme-challenge with Host and XFF, chains to the next upstream on 404", async () => {
  const missing = upstream(() => new Response("no such token", { status: 404 }));
  const has = upstream((req) => new Response(`token for ${new URL(req.url).pathname}`));
  try {
    // Single upstream: the client's Host header arrives unchanged.
    const single = await startNginx({ upstreams: [has.address] });
    try {
      const r = await rawGet(single.port, "/.well-known/acme-challenge/x", `www.example.test:${single.port}`);
      assertEquals([r.status, r.body], [200, "token for /.well-known/acme-challenge/x"]);
      assertEquals(has.seen.at(-1), {
        path: "/.well-known/acme-challenge/x",
        host: `www.example.test:${single.port}`,
        xff: "127.0.0.1",
        realIp: "127.0.0.1",
      });
      const other = await rawGet(single.port, "/index.html", "www.example.test");
      assertEquals(other.status, 404);
      assertEquals(has.seen.length, 1, "only the challenge path is forwarded");
    } finally {
      await single.stop();
    }
    await assertStopped(single.pid, single.dir);

    // Two upstreams, the first never has the token: every request ends at the second one.
    has.seen.length = 0;
    const chained = await startNginx({ upstreams: [missing.address, has.address] });
    try {
      for (let i = 0; i < 4; i++) {
        const r = await rawGet(chained.port, `/.well-known/acme-challenge/t${i}`, "chain.example.test");
        assertEquals([r.status, r.body], [200, `token for /.well-known/acme-challenge/t${i}`]);
      }
      assertEquals(has.seen.length, 4);
      assert(
        missing.seen.length >= 2,
        `round robin tried the 404 upstream first at least twice (${missing.seen.length})`,
      );
      assert((await chained.logTail()).includes("upstream_status=404, 200"), "access log shows the chain");
    } finally {
      await chained.stop();
    }
    await assertStopped(chained.pid, chained.dir);
  } finally {
    await missing.server.shutdown();
    await has.server.shutdown();
  }
});

Deno.test("peers that cannot start throw with their log lines and leave nothing running", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const pebbleErr = await assertRejects(() => startPebble({ port: busy.addr.port }));
    assert(pebbleErr.message.includes("address already in use"), pebbleErr.message);
    assert(pebbleErr.message.includes("Pebble ") && pebbleErr.message.includes("--- last 30 lines"), pebbleErr.message);
    await assertErrorPidGone(pebbleErr);

    const namedErr = await assertRejects(() => startNamed({ port: busy.addr.port }));
    assert(namedErr.message.includes("address in use"), namedErr.message);
    assert(namedErr.message.includes("loading configuration from"), namedErr.message);
    await assertErrorPidGone(namedErr);

    const nginxErr = await assertRejects(() => startNginx({ port: busy.addr.port, upstreams: ["127.0.0.1:9"] }));
    assert(nginxErr.message.includes("Address already in use"), nginxErr.message);
    assert(nginxErr.message.includes("bind() to 127.0.0.1:"), nginxErr.message);
    await assertErrorPidGone(nginxErr);
  } finally {
    busy.close();
  }
  // A config error is caught before the peer starts, with the checker's output.
  const badZone = await assertRejects(() =>
    startNamed({ extraZones: [{ name: "bad.test", records: ["@ IN A not-an-ip"] }] })
  );
  assert(badZone.message.includes("named-checkzone") && badZone.message.includes("bad.test"), badZone.message);
});
