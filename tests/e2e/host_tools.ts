/**
 * What a host does to get a certificate from acmems, done the way a host would: `openssl req` for the CSR,
 * `curl` or `wget` for `POST /sign`, `openssl dgst -hmac` + `sed` for the Authentication header, and
 * `openssl verify` / `openssl x509` to check the answer. Every tool runs as a real subprocess.
 */
import { assert, assertEquals, AssertionError } from "../support/assert.ts";
import { type CsrKeyType, makeCsr, type TestCsr } from "../support/csr.ts";
import { run, runChecked } from "../support/process.ts";

/** Upper bound of one /sign request made by a test (curl --max-time, wget --timeout). */
export const REQUEST_TIMEOUT_S = 30;

/** An HTTP answer as a host tool saw it. */
export interface SignAnswer {
  /** HTTP status (0 when the tool got no answer). */
  status: number;
  /** Response headers, names lower-cased (the last value wins). */
  headers: Map<string, string>;
  /** The exact body bytes as text. */
  body: string;
  /** Wall time of the tool run. */
  elapsedMs: number;
  /** The tool's exit code and stderr, for failure messages. */
  tool: { code: number; stderr: string };
}

/** `curl -sS -i --data-binary @CSR URL/sign`, optionally with extra `-H` headers. */
export async function curlSign(
  mgmtUrl: string,
  csrFile: string,
  opts: { headers?: Record<string, string> } = {},
): Promise<SignAnswer> {
  const args = ["-sS", "-g", "-i", "--max-time", String(REQUEST_TIMEOUT_S), "--data-binary", `@${csrFile}`];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(`${mgmtUrl}/sign`);
  const started = Date.now();
  const r = await run("curl", args);
  return { ...parseRawResponse(r.stdout), elapsedMs: Date.now() - started, tool: { code: r.code, stderr: r.stderr } };
}

/**
 * The HMAC flow of a host with a shell: the header comes out of `openssl dgst -sha256 -hmac KEY host.csr` (OpenSSL 3
 * prints `HMAC-SHA2-256(host.csr)= <hex>`) rewritten by sed into `hmac name=sha2-256, hash=<hex>`, then curl.
 * The key reaches the shell through the environment but is then on openssl's command line: this is the old recipe,
 * kept as an independent HMAC implementation for the tests (hosts use clients/acmems-client.sh or the README's
 * recipe, which keep the key off every command line).
 */
export async function curlSignWithHmac(mgmtUrl: string, csrFile: string, key: string): Promise<SignAnswer> {
  const script = `set -eu
auth=$(openssl dgst -sha256 -hmac "$HMAC_KEY" "$CSR" | sed -E 's/^HMAC-([^(]+)\\(.*\\)= */hmac name=\\1, hash=/' | tr A-Z a-z)
printf '%s\\n' "$auth" >&2
exec curl -sS -g -i --max-time ${REQUEST_TIMEOUT_S} -H "Authentication: $auth" --data-binary "@$CSR" "$URL/sign"
`;
  const started = Date.now();
  const r = await run("sh", ["-c", script], {
    env: { HMAC_KEY: key, CSR: csrFile, URL: mgmtUrl },
  });
  const header = r.stderr.split("\n")[0];
  if (!/^hmac name=sha2-256, hash=[0-9a-f]{64}$/.test(header)) {
    throw new AssertionError(`the openssl|sed pipeline made an unexpected header: ${JSON.stringify(r.stderr)}`);
  }
  return { ...parseRawResponse(r.stdout), elapsedMs: Date.now() - started, tool: { code: r.code, stderr: r.stderr } };
}

/** `wget -q -S -O - --post-file=CSR URL/sign` (headers come on stderr with -S; the body of an error too). */
export async function wgetSign(mgmtUrl: string, csrFile: string): Promise<SignAnswer> {
  const args = [
    "-q",
    "-S",
    "-O",
    "-",
    "--tries=1",
    `--timeout=${REQUEST_TIMEOUT_S}`,
    "--content-on-error",
    `--post-file=${csrFile}`,
    `${mgmtUrl}/sign`,
  ];
  const started = Date.now();
  const r = await run("wget", args);
  const elapsedMs = Date.now() - started;
  const lines = r.stderr.split("\n").map((l) => l.replace(/^ {2}/, "").replace(/\r$/, ""));
  const statusLine = lines.filter((l) => /^HTTP\/\d(\.\d)? \d{3}/.test(l)).at(-1);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const m = line.match(/^([A-Za-z0-9-]+): ?(.*)$/);
    if (m) headers.set(m[1].toLowerCase(), m[2]);
  }
  return {
    status: statusLine ? Number(statusLine.split(" ")[1]) : 0,
    headers,
    body: r.stdout,
    elapsedMs,
    tool: { code: r.code, stderr: r.stderr },
  };
}

/** Splits `curl -i` output into status, headers and the exact body (the last header block wins, e.g. after 100). */
function parseRawResponse(raw: string): Omit<SignAnswer, "elapsedMs" | "tool"> {
  let rest = raw;
  let status = 0;
  const headers = new Map<string, string>();
  while (/^HTTP\/\d(\.\d)? \d{3}/.test(rest)) {
    const end = rest.indexOf("\r\n\r\n");
    const head = end < 0 ? rest : rest.slice(0, end);
    rest = end < 0 ? "" : rest.slice(end + 4);
    const [statusLine, ...fields] = head.split("\r\n");
    status = Number(statusLine.split(" ")[1]);
    headers.clear();
    for (const f of fields) {
      const colon = f.indexOf(":");
      if (colon > 0) headers.set(f.slice(0, colon).trim().toLowerCase(), f.slice(colon + 1).trim());
    }
  }
  return { status, headers, body: rest };
}

/** Describes an answer for assertion messages. */
export function describe(answer: SignAnswer): string {
  const headers = [...answer.headers].map(([k, v]) => `${k}: ${v}`).join("; ");
  return `HTTP ${answer.status} after ${answer.elapsedMs} ms [${headers}] body=${JSON.stringify(answer.body)}` +
    ` (tool exit ${answer.tool.code}${answer.tool.stderr ? `, stderr ${JSON.stringify(answer.tool.stderr)}` : ""})`;
}

/** Asserts the status, with the whole answer in the message. */
export function assertStatus(answer: SignAnswer, status: number, context = ""): void {
  if (answer.status !== status) {
    throw new AssertionError(`${context ? context + ": " : ""}expected HTTP ${status}, got ${describe(answer)}`);
  }
}

/** A CSR made by `openssl req` with a unique basename in `dir`. */
export function hostCsr(dir: string, names: string[], key: CsrKeyType = "ec-p256"): Promise<TestCsr> {
  return makeCsr({ dir, names, key });
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----/g;

/**
 * Checks a 200 answer as a host would: Content-Type `application/pem-certificate-chain`; PEM blocks separated by
 * exactly one empty line with a final newline; `openssl verify` of the leaf against pebble's root with the chain's
 * other certificates as untrusted intermediates; the leaf's public key equals the CSR's; the leaf's SANs are the
 * CSR's names. `workDir` receives the split files.
 */
export async function verifyIssued(
  answer: SignAnswer,
  csr: TestCsr,
  names: string[],
  rootPemFile: string,
  workDir: string,
): Promise<void> {
  assertStatus(answer, 200);
  assertEquals(answer.headers.get("content-type"), "application/pem-certificate-chain", "Content-Type");
  const body = answer.body;
  const blocks = body.match(PEM_CERT) ?? [];
  assert(blocks.length >= 2, `expected leaf + intermediate, got ${blocks.length} PEM blocks: ${JSON.stringify(body)}`);
  assertEquals(body, blocks.join("\n\n") + "\n", "blocks separated by one empty line, one final newline, nothing else");

  const stem = `${workDir}/${csr.csrFile.replace(/^.*\//, "").replace(/\.csr$/, "")}`;
  const leafFile = `${stem}.leaf.pem`;
  const intermediatesFile = `${stem}.intermediates.pem`;
  await Deno.writeTextFile(leafFile, blocks[0] + "\n");
  await Deno.writeTextFile(intermediatesFile, blocks.slice(1).join("\n") + "\n");

  const verify = await run("openssl", ["verify", "-CAfile", rootPemFile, "-untrusted", intermediatesFile, leafFile]);
  assertEquals(verify.code, 0, `openssl verify failed: ${verify.output}`);
  assertEquals(verify.stdout.trim(), `${leafFile}: OK`);

  const csrKey = await runChecked("openssl", ["req", "-in", csr.csrFile, "-pubkey", "-noout"]);
  const leafKey = await runChecked("openssl", ["x509", "-in", leafFile, "-pubkey", "-noout"]);
  assert(csrKey.stdout.includes("-----BEGIN PUBLIC KEY-----"), csrKey.output);
  assertEquals(leafKey.stdout, csrKey.stdout, "the leaf certifies the CSR's public key");

  const san = await runChecked("openssl", ["x509", "-in", leafFile, "-noout", "-ext", "subjectAltName"]);
  const leafNames = [...san.stdout.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]).sort();
  assertEquals(leafNames, [...names].sort(), "the leaf's SANs are the CSR's names");
}

/** Runs `fn` with a fresh temp dir, removed afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** How many lines of `text` match `pattern`. */
export function countLines(text: string, pattern: RegExp): number {
  return text.split("\n").filter((l) => pattern.test(l)).length;
}
