/**
 * Attack: challenge-token injection and path traversal (landscape §D2.1: lego GHSA-qqx8-2xmm-jrv8 and its kin).
 *
 * A token that is not RFC 8555 base64url (`../`, `%2e%2e`, NUL, over-long, other characters) must be answered 404
 * without ever reaching the responder's lookup or the shared storage's `getChallenge`, both wrapped here to count
 * calls; the file storage must never build a path from such a token (a planted file at the traversal target is
 * neither read, written nor removed); a CA that sends such a token gets nothing presented.
 */
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { CHALLENGE_PREFIX, Http01Responder, type SharedChallenge } from "../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../src/challenges/http01/solver.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import type { StoredChallenge } from "../../src/storage/mod.ts";

const HOST = "www.example.test";
const VALID = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
const BASE64URL = /^[A-Za-z0-9_-]{1,256}$/;

/** The token the HTTP layer's URL normalisation leaves for a request-target, or null when it leaves the prefix. */
function normalizedToken(target: string): string | null {
  let path: string;
  try {
    path = new URL(target, `http://${HOST}`).pathname;
  } catch {
    return null;
  }
  return path.startsWith(CHALLENGE_PREFIX) ? path.slice(CHALLENGE_PREFIX.length) : null;
}

/** Raw request-targets after the challenge prefix, as an attacker (or a hostile CA's VA) could send them. */
const HOSTILE_SUFFIXES = [
  "../../../../etc/passwd",
  "..%2f..%2f..%2fetc%2fpasswd",
  "..%2F..%2Fchallenges%2F" + VALID,
  "%2e%2e/%2e%2e/etc/passwd",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "%2E%2E",
  ".%2e/x",
  "..",
  "...",
  "..%5c..%5cwindows%5cwin.ini",
  "....//....//etc/passwd",
  VALID + "/../../x%2e%2e",
  VALID + "/..%2f" + VALID,
  VALID + "%00",
  VALID + "%00.json",
  "%00",
  "abc%00def",
  "A".repeat(257),
  "A".repeat(4000),
  VALID + "=",
  "abc+def",
  "abc.def",
  "abc%2Bdef",
  "%41%42%43",
  "abc%20def",
  "abc;def",
  "abc,def",
  "abc~def",
  "abc'def",
  'abc"def',
  "abc%22def",
  "abc%27%3B--",
  "%C3%A4bc",
  "\u00e4bc",
  "abc\\def",
  "abc%5Cdef",
  "abc:def",
  "abc@def",
  "abc$def",
  "abc*def",
  "abc|def",
  "",
  "/" + VALID,
  VALID + "/",
  VALID + "/x",
  "./" + VALID + "x",
  "%2F" + VALID,
];

interface Spies {
  responder: Http01Responder;
  lookups: string[];
  fallbacks: string[];
}

/** A responder with a pending valid token, its lookup and its shared-storage fallback wrapped to count calls. */
async function spiedResponder(storageDir: string): Promise<Spies & { storage: FileStorage }> {
  const responder = new Http01Responder();
  responder.add(HOST, VALID, `${VALID}.thumb`);
  const storage = new FileStorage({
    name: "shared",
    directory: storageDir,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: silentLogger,
  });
  await storage.init();
  const lookups: string[] = [];
  const fallbacks: string[] = [];
  // The handler checks a token once and then calls lookupChecked: the spy sits there.
  const realLookup = responder.lookupChecked.bind(responder);
  responder.lookupChecked = (host: string | null, token: string) => {
    lookups.push(token);
    return realLookup(host, token);
  };
  responder.fallback = async (token: string): Promise<SharedChallenge | null> => {
    fallbacks.push(token);
    return await storage.getChallenge(token);
  };
  return { responder, lookups, fallbacks, storage };
}

/**
 * Sends `GET <target>` over a raw TCP connection (no URL normalisation by a client library) with `Host: host` (none
 * when null, as HTTP/1.0); returns the status.
 */
async function rawGet(port: number, target: string, host: string | null = HOST): Promise<number | "closed"> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = host === null
      ? `GET ${target} HTTP/1.0\r\n\r\n`
      : `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await writeAll(conn, new TextEncoder().encode(request));
    const text = await readAllText(conn, 5_000);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    return m ? Number(m[1]) : "closed";
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function readAllText(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16_384);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buffer),
      new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now())))),
    ]).finally(() => clearTimeout(timer));
    if (n === null || n === "timeout") break;
    chunks.push(buffer.slice(0, n));
  }
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

Deno.test("attack: hostile challenge tokens are 404 without a lookup or a storage read (in-process)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-attack-tokens-" });
  try {
    const spies = await spiedResponder(dir);
    // Control: the valid token is looked up and answered, so the spies do see calls.
    const ok = await spies.responder.handle(
      new Request(`http://${HOST}${CHALLENGE_PREFIX}${VALID}`, { headers: { host: HOST } }),
    );
    assertEquals([ok.status, await ok.text()], [200, `${VALID}.thumb`]);
    assertEquals(spies.lookups, [VALID]);
    spies.lookups.length = 0;

    for (const suffix of HOSTILE_SUFFIXES) {
      let request: Request;
      try {
        request = new Request(`http://${HOST}${CHALLENGE_PREFIX}${suffix}`, { headers: { host: HOST } });
      } catch {
        continue; // not even a URL
      }
      const path = new URL(request.url).pathname;
      const token = path.startsWith(CHALLENGE_PREFIX) ? path.slice(CHALLENGE_PREFIX.length) : null;
      // A suffix that URL normalisation (before acmems sees it) turns into a plain token is a legitimate request.
      if (token !== null && BASE64URL.test(token)) continue;
      const response = await spies.responder.handle(request);
      await response.body?.cancel();
      assertEquals(response.status, 404, `${JSON.stringify(suffix)} (path ${path})`);
      assertEquals(spies.lookups, [], `${JSON.stringify(suffix)} reached the responder's lookup`);
      assertEquals(spies.fallbacks, [], `${JSON.stringify(suffix)} reached the storage's getChallenge`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attack: hostile challenge tokens over raw HTTP on a real listener are 404 (or 400), never a lookup", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-attack-tokens-" });
  const spies = await spiedResponder(dir);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, spies.responder.handle);
  try {
    const port = server.addr.port;
    assertEquals(await rawGet(port, `${CHALLENGE_PREFIX}${VALID}`), 200, "control");
    spies.lookups.length = 0;
    const raw = [
      ...HOSTILE_SUFFIXES.filter((s) => /^[\x21-\x7e]*$/.test(s)).map((s) => CHALLENGE_PREFIX + s),
      // Raw bytes no client library would send.
      `${CHALLENGE_PREFIX}abc\u0000def`,
      `${CHALLENGE_PREFIX}..\\..\\etc\\passwd`,
      `/.well-known/acme-challenge%2F${VALID}`,
      `/.well-known%2facme-challenge/${VALID}x`,
      `//.well-known/acme-challenge/../../etc/passwd`,
      `http://evil.test${CHALLENGE_PREFIX}..%2f..%2fetc%2fpasswd`,
      `${CHALLENGE_PREFIX}${"B".repeat(60_000)}`,
    ];
    const targets = raw.filter((t) => {
      const token = normalizedToken(t);
      return token === null || !BASE64URL.test(token);
    });
    assert(targets.length >= 40, `only ${targets.length} hostile targets left`);
    for (const target of targets) {
      const status = await rawGet(port, target);
      assert(
        status === 404 || status === 400 || status === 414 || status === 431 || status === "closed",
        `${JSON.stringify(target.slice(0, 80))}: status ${status}`,
      );
    }
    assertEquals(spies.lookups, [], "a hostile token reached the responder's lookup");
    assertEquals(spies.fallbacks, [], "a hostile token reached the storage's getChallenge");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attack: the host a challenge answers to over raw HTTP: Host, absolute-form target first, none is 404", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-attack-tokens-" });
  const spies = await spiedResponder(dir);
  spies.responder.fallback = undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, spies.responder.handle);
  try {
    const port = server.addr.port;
    const path = `${CHALLENGE_PREFIX}${VALID}`;
    assertEquals(await rawGet(port, path), 200, "the pending name as Host");
    assertEquals(await rawGet(port, path, "WWW.Example.Test.:80"), 200, "port, case and a final dot");
    assertEquals(await rawGet(port, path, "other.example.test"), 404, "another name as Host");
    assertEquals(await rawGet(port, path, null), 404, "no Host at all");
    // RFC 9112 §3.2.2: the host of an absolute-form request target wins over the Host header.
    assertEquals(await rawGet(port, `http://${HOST}${path}`, "other.example.test"), 200, "absolute-form, right host");
    assertEquals(await rawGet(port, `http://other.example.test${path}`, HOST), 404, "absolute-form, other host");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attack: the file storage never builds a path from a hostile token (planted files stay untouched)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-attack-storage-" });
  try {
    const storage = new FileStorage({
      name: "cache",
      directory: `${dir}/cache`,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: silentLogger,
    });
    await storage.init();
    // A file at every traversal target a naive join(directory, "challenges", token + ".json") would reach.
    const planted: StoredChallenge = { token: "x", keyAuthorization: "planted", host: HOST, expiresAt: "2099-01-01" };
    await Deno.writeTextFile(`${dir}/cache/secret.json`, JSON.stringify(planted));
    await Deno.writeTextFile(`${dir}/secret.json`, JSON.stringify(planted));
    const traversals = ["../secret", "../../secret", "..%2fsecret", "../secret\u0000", "challenges/../../secret", ".."];
    for (const token of traversals) {
      assertEquals(await storage.getChallenge(token), null, `getChallenge(${JSON.stringify(token)}) read a file`);
      await storage.deleteChallenge(token);
      await assertRejects(
        () => storage.putChallenge({ ...planted, token, keyAuthorization: "overwritten" }),
        /Invalid challenge token/,
      );
    }
    for (const path of [`${dir}/cache/secret.json`, `${dir}/secret.json`]) {
      assertEquals(JSON.parse(await Deno.readTextFile(path)).keyAuthorization, "planted", `${path} was changed`);
    }
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/cache/challenges`)) names.push(entry.name);
    assertEquals(names, [], "nothing was written under challenges/");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attack: a CA that sends a hostile token gets nothing presented, in memory or in shared storage", async () => {
  const responder = new Http01Responder();
  const shared: string[] = [];
  const solver = new Http01Solver(responder, {
    putChallenge: (c) => {
      shared.push(c.token);
      return Promise.resolve();
    },
    deleteChallenge: () => Promise.resolve(),
  });
  for (const token of ["../../../../tmp/pwned", "..%2f..%2fpwned", "a/b", "a\u0000b", "A".repeat(300), "a b", ""]) {
    await assertRejects(
      () => solver.present({ identifier: HOST, wildcard: false, token, keyAuthorization: `${token}.thumb` }),
    );
  }
  assertEquals(responder.size, 0, "a hostile token was added to the responder");
  assertEquals(shared, [], "a hostile token reached the shared storage");
});
