/**
 * Shared pieces of the fault-injection tests: CSRs made in-process (fast, many), the fault tests' config (through
 * tests/support/config.ts), a pebble that can be stopped and brought back on the same ports with the same HTTPS
 * certificate, and a /sign client. acmems itself is started with tests/support/acmems.ts (`startAcmems`, which can
 * wrap it, e.g. in `unshare -m` for a private tmpfs, and SIGKILL it).
 *
 * Everything started here is stopped by the caller through `Cleanup` (tests/support/stack.ts), in reverse order.
 */
import * as x509 from "@peculiar/x509";
import { assert } from "../support/assert.ts";
import { type CaEndpoint, type ConfigSpec, fileStorage, testConfig } from "../support/config.ts";
import type { Pebble } from "../support/pebble.ts";
import { PEBBLE_BIN } from "../support/pebble.ts";
import { type PeerProcess, readTextOrEmpty, spawnLogged, stopOnFailure } from "../support/process.ts";

export { Cleanup, since } from "../support/stack.ts";
const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A CSR for `names` with a fresh P-256 key (every call is a distinct CSR). */
export async function quickCsr(names: string[]): Promise<{ pem: string; publicKey: ArrayBuffer }> {
  const keys = await crypto.subtle.generateKey(EC, true, ["sign", "verify"]) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [names[0]] }] as unknown as x509.JsonName,
    keys,
    signingAlgorithm: EC,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: "dns" as const, value })))],
  });
  return { pem: csr.toString("pem"), publicKey: await crypto.subtle.exportKey("spki", keys.publicKey) };
}

/** Options of the fault tests' config. */
export interface FaultConfigOptions {
  pebble: CaEndpoint;
  mgmtPort: number;
  httpPort: number;
  /** A file storage directory; default: the implicit cache under the account dir. */
  cacheDir?: string;
  signTimeout?: string;
}

/** The fault tests' config: 127.0.0.1 may ask for *.example.test; JSON logs at debug level to stderr. */
export function faultConfig(o: FaultConfigOptions): ConfigSpec {
  return testConfig({
    comment: "tests/faults",
    ca: o.pebble,
    mgmtPort: o.mgmtPort,
    httpPort: o.httpPort,
    mgmt: { "sign-timeout": o.signTimeout ?? "60s" },
    logging: { level: "debug", format: "json" },
    storages: o.cacheDir ? { cache: fileStorage(o.cacheDir) } : undefined,
  });
}

/** A /sign answer, read completely. */
export interface Signed {
  status: number;
  body: string;
  headers: Headers;
  ms: number;
}

/** POST /sign (30 s limit unless `signal` says otherwise). */
export async function sign(url: string, csrPem: string, signal?: AbortSignal): Promise<Signed> {
  const started = Date.now();
  const response = await fetch(`${url}/sign`, {
    method: "POST",
    body: csrPem,
    signal: signal ?? AbortSignal.timeout(30_000),
  });
  const body = await response.text();
  return { status: response.status, body, headers: response.headers, ms: Date.now() - started };
}

/** Checks a 200 answer: a chain whose leaf is for exactly `names` and for the CSR's key. */
export function assertCertificate(signed: Signed, names: string[], publicKey: ArrayBuffer, what: string): void {
  assert(signed.status === 200, `${what}: ${signed.status} ${signed.body}`);
  const leaf = new x509.X509Certificate(signed.body.split("\n\n")[0]);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const got = (san?.names.items ?? []).map((n) => n.value).sort();
  assert(JSON.stringify(got) === JSON.stringify([...names].sort()), `${what}: leaf SANs ${got} for ${names}`);
  const a = new Uint8Array(leaf.publicKey.rawData);
  const b = new Uint8Array(publicKey);
  assert(a.length === b.length && a.every((v, i) => v === b[i]), `${what}: the leaf is not for the CSR's key`);
}

/** Runs `jobs` with at most `limit` at a time; results in order. */
export async function pool<T>(count: number, limit: number, job: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A pebble that can be stopped and started again on the same ports with the same HTTPS certificate (acmems reads
 * `ca-file` once, at start). `capture` copies a fixture pebble's config and certificates before the fixture is
 * stopped; `start` runs pebble from the copy with the fixture's environment. A new pebble forgets every account,
 * order and authorization: what a CA restart (or an account lost on the CA side) looks like to acmems.
 */
export class RestartablePebble {
  #proc: PeerProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly configFile: string,
    readonly directoryUrl: string,
    readonly caPem: string,
    readonly dnsServer: string,
    readonly env: Record<string, string>,
  ) {}

  static async capture(
    pebble: Pebble,
    dir: string,
    opts: { dnsServer: string; env?: Record<string, string> },
  ): Promise<RestartablePebble> {
    await Deno.mkdir(`${dir}/certs`, { recursive: true });
    const config = JSON.parse(await Deno.readTextFile(pebble.configFile));
    for (const key of ["certificate", "privateKey"] as const) {
      const from = config.pebble[key] as string;
      const to = `${dir}/certs/${from.split("/").pop()}`;
      await Deno.copyFile(from, to);
      config.pebble[key] = to;
    }
    const configFile = `${dir}/pebble-config.json`;
    await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
    return new RestartablePebble(dir, configFile, pebble.directoryUrl, pebble.caPem, opts.dnsServer, {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
      ...opts.env,
    });
  }

  /** Starts pebble from the captured config; waits until the directory answers over HTTPS. */
  async start(): Promise<void> {
    const proc = spawnLogged({
      name: "pebble (restarted)",
      command: PEBBLE_BIN,
      args: ["-config", this.configFile, "-strict=false", "-dnsserver", this.dnsServer],
      env: this.env,
      logFile: `${this.dir}/pebble.log`,
      cwd: this.dir,
    });
    const client = Deno.createHttpClient({ caCerts: [this.caPem] });
    try {
      await stopOnFailure(proc, () =>
        proc.waitFor(async (signal) => {
          const response = await fetch(this.directoryUrl, { client, signal });
          const text = await response.text();
          return response.ok && text.includes("newNonce");
        }, { timeoutMs: 20_000, failOn: /address already in use/ }));
    } finally {
      client.close();
    }
    this.#proc = proc;
  }

  async stop(): Promise<void> {
    await this.#proc?.stop();
    this.#proc = undefined;
  }

  log(): Promise<string> {
    return readTextOrEmpty(`${this.dir}/pebble.log`);
  }
}
