/** `acmems eab new BLOCK [CONFIG…]`: a fresh pair, the config lines, the client flags, and the block check. */
import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { directoryUrl, newEabPair, parseEabArgs, runEab } from "../../../cli/eab.ts";
import { UsageError } from "../../../cli/usage.ts";
import { main } from "../../../main.ts";
import type { ListenAddress } from "../../../src/config/types.ts";

const SOURCE = { file: "a.ini", line: 1 };
const listener = (hostname: string, port: number): ListenAddress => ({ hostname, port, display: "", source: SOURCE });

/** Runs `runEab` capturing stdout and stderr lines. */
async function capture(args: string[], hostname = () => "box.example.org") {
  const info: string[] = [];
  const error: string[] = [];
  const code = await runEab(parseEabArgs(args), { info: (l) => info.push(l), error: (l) => error.push(l) }, {
    hostname,
  });
  return { code, stdout: info.join("\n"), stderr: error.join("\n") };
}

async function configFile(text: string): Promise<{ file: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-eab-" });
  const file = `${dir}/acmems.ini`;
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  return { file, dir };
}

const CONFIG = (mgmt: string) =>
  `[account]\ndir = account\naccept-terms-of-service = yes\n[mgmt]\n${mgmt}\n` +
  `[auth "hosts"]\nip = 127.0.0.1\ndomain = *.example.test\n[auth "web"]\nip = 10.0.0.0/8\ndomain = *.web.test\n`;

Deno.test("newEabPair: a url-safe kid and a 32-byte base64url key, fresh every time", () => {
  const a = newEabPair();
  const b = newEabPair();
  assertMatch(a.kid, /^[A-Za-z0-9_-]{22}$/);
  assertMatch(a.hmacKey, /^[A-Za-z0-9_-]{43}$/);
  const raw = atob(a.hmacKey.replaceAll("-", "+").replaceAll("_", "/") + "=");
  assertEquals(raw.length, 32);
  assert(a.kid !== b.kid && a.hmacKey !== b.hmacKey, "two pairs must differ");
});

Deno.test("newEabPair: never a value starting with '-' (certbot and lego would read it as an option)", () => {
  // 0xfb… encodes as "-…" in base64url: the first draw of each size is refused, the second taken.
  const draws: number[] = [];
  const random = (bytes: Uint8Array) => {
    draws.push(bytes.length);
    bytes.fill(draws.filter((n) => n === bytes.length).length === 1 ? 0xfb : 0x41);
    return bytes;
  };
  const pair = newEabPair(random);
  assertEquals(draws, [16, 16, 32, 32]);
  assert(!pair.kid.startsWith("-") && !pair.hmacKey.startsWith("-"), JSON.stringify(pair));
  for (let i = 0; i < 200; i++) assert(!newEabPair().kid.startsWith("-"));
});

Deno.test("args: new BLOCK [CONFIG…]; other actions, options and a missing block are usage errors", () => {
  assertEquals(parseEabArgs(["new", "hosts"]), { block: "hosts", files: [] });
  assertEquals(parseEabArgs(["new", "hosts", "a.ini", "b.ini"]), { block: "hosts", files: ["a.ini", "b.ini"] });
  assert(assertThrows(() => parseEabArgs([]), /no action/) instanceof UsageError);
  assert(assertThrows(() => parseEabArgs(["list"]), /unknown action "list"/) instanceof UsageError);
  assert(assertThrows(() => parseEabArgs(["new"]), /no auth block/) instanceof UsageError);
  assert(assertThrows(() => parseEabArgs(["new", "x", "--json"]), /unknown option "--json"/) instanceof UsageError);
  assert(assertThrows(() => parseEabArgs(["new", 'a"b']), /quote/) instanceof UsageError);
});

Deno.test("directoryUrl: https on the first mgmt listener; a wildcard address becomes the host name", () => {
  assertEquals(directoryUrl(listener("127.0.0.1", 1313)), "https://127.0.0.1:1313/acme/directory");
  assertEquals(directoryUrl(listener("::1", 8443)), "https://[::1]:8443/acme/directory");
  assertEquals(
    directoryUrl(listener("0.0.0.0", 1313), () => "ca.example.org"),
    "https://ca.example.org:1313/acme/directory",
  );
  assertEquals(
    directoryUrl(listener("::", 1313), () => "ca.example.org"),
    "https://ca.example.org:1313/acme/directory",
  );
  assertEquals(directoryUrl(listener("fe80::1%eth0", 1380)), "https://[fe80::1]:1380/acme/directory");
  assertEquals(directoryUrl(undefined), "https://HOST:1313/acme/directory");
});

Deno.test("eab new BLOCK CONFIG: the two config lines and the certbot and lego flags, on the listener's HOST:PORT", async () => {
  const { file, dir } = await configFile(CONFIG("listener = 127.0.0.1:18443\ntls-cert = c.pem\ntls-key = k.pem"));
  try {
    const r = await capture(["new", "web", file]);
    assertEquals(r.code, 0, r.stderr);
    const kid = r.stdout.match(/^acme-eab-kid = ([A-Za-z0-9_-]+)$/m)?.[1];
    const key = r.stdout.match(/^acme-eab-hmac-key = ([A-Za-z0-9_-]{43})$/m)?.[1];
    assert(kid && key, r.stdout);
    assertStringIncludes(r.stdout, '[auth "web"]');
    const server = "https://127.0.0.1:18443/acme/directory";
    assertStringIncludes(r.stdout, `certbot certonly --server ${server} --eab-kid ${kid} --eab-hmac-key ${key}`);
    assertStringIncludes(r.stdout, `lego --server ${server} --eab --kid ${kid} --hmac ${key} --accept-tos --email`);
    // The secret goes to stdout only; stderr warns how to store it and never repeats it.
    assert(!r.stderr.includes(key), "the HMAC key must not be printed on stderr");
    assertStringIncludes(r.stderr, "0600");
    assertStringIncludes(r.stderr, "secret");
    assert(!r.stderr.includes("plain HTTP"), r.stderr);
    // With the pair pasted in, a second run prints another one and names the pair it replaces.
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, `${text}acme-eab-kid = ${kid}\nacme-eab-hmac-key = ${key}\n`);
    const again = await capture(["new", "web", file]);
    assertEquals(again.code, 0, again.stderr);
    assert(!again.stdout.includes(key), "every run must print a new key");
    assertStringIncludes(again.stderr, `[auth "web"] (${file}:`);
    assertStringIncludes(again.stderr, `already has acme-eab-kid = ${kid}: replace both`);
    assert(!again.stderr.includes(key), "the old key is not printed either");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eab new: an unknown block, given a config, is an error naming the known blocks", async () => {
  const { file, dir } = await configFile(CONFIG("listener = 127.0.0.1:18443"));
  try {
    const r = await capture(["new", "nosuch", file]);
    assertEquals(r.code, 1);
    assertEquals(r.stdout, "", "no key is printed for an unknown block");
    assertStringIncludes(r.stderr, '[auth "nosuch"]');
    assertStringIncludes(r.stderr, '"hosts", "web"');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eab new: without TLS on the mgmt listeners it warns that the clients need HTTPS", async () => {
  const { file, dir } = await configFile(CONFIG("listener = 0.0.0.0:1414"));
  try {
    const r = await capture(["new", "hosts", file], () => "acmems.example.org");
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stdout, "--server https://acmems.example.org:1414/acme/directory");
    assertStringIncludes(r.stderr, "tls-cert");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eab new BLOCK without a config: any block name, HOST:1313 to fill in", async () => {
  const r = await capture(["new", "anything"]);
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, '[auth "anything"]');
  assertStringIncludes(r.stdout, "--server https://HOST:1313/acme/directory");
  assertStringIncludes(r.stderr, "HOST:1313");
});

Deno.test("main dispatches eab; bad usage exits 2; the main usage lists it", async () => {
  const errors: string[] = [];
  const out: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    assertEquals(await main(["eab", "new"]), 2);
    assertStringIncludes(errors.join("\n"), "Usage: acmems eab new BLOCK");
    assertEquals(await main(["eab", "new", "hosts"]), 0);
    assertMatch(out.join("\n"), /^acme-eab-hmac-key = [A-Za-z0-9_-]{43}$/m);
    out.length = 0;
    assertEquals(await main(["--help"]), 0);
    assertMatch(out.join("\n"), /^ {2}eab +print a new EAB key pair/m);
  } finally {
    console.error = error;
    console.log = log;
  }
});
