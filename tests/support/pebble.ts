/**
 * Starts pebble 2.10 (Let's Encrypt's test CA) on free loopback ports for integration tests.
 *
 * 2.10 is required (Debian sid's package, see .ci/install-peers.sh): it has ARI (`renewalInfo`), profiles
 * (`meta.profiles`) and `POST /set-renewal-info/`, which Debian 12's 2.4 lacks.
 */
import { freePorts } from "./ports.ts";
import { removeWorkDir, requireExecutable, retryOnAddressInUse, run, spawnLogged, stopOnFailure } from "./process.ts";
import { makeTestCa } from "./test_ca.ts";

/** The pebble binary the fixture runs (Debian's path). */
export const PEBBLE_BIN = "/usr/bin/pebble";
/** The pebble version the fixtures are written for (`dpkg-query -W pebble` must start with this). */
export const PEBBLE_VERSION_PREFIX = "2.10.";

/** A certificate profile advertised in `meta.profiles`. `validityPeriod` is in seconds. */
export interface PebbleProfile {
  description?: string;
  validityPeriod: number;
  promoteCommonName?: boolean;
}

/** Options for `startPebble`. Every field is optional; the defaults make issuance deterministic. */
export interface PebbleOptions {
  /** "127.0.0.1:PORT" of the DNS server pebble's VA uses (`-dnsserver`). Default: the system resolver. */
  dnsServer?: string;
  /** Port pebble's VA connects to for http-01 (default: a free port). Pebble does not listen on it. */
  httpPort?: number;
  /** Port pebble's VA connects to for tls-alpn-01 (default: a free port). */
  tlsPort?: number;
  /** ACME listener port (default: a free port). With an explicit port, "address in use" is not retried. */
  port?: number;
  /** Management listener port (default: a free port). */
  managementPort?: number;
  /** PEBBLE_WFE_NONCEREJECT: percent of good nonces rejected as badNonce (default 0; pebble's own default is 5). */
  nonceReject?: number;
  /** PEBBLE_AUTHZREUSE: percent of valid authzs reused (default 0; pebble's own default is 50). */
  authzReuse?: number;
  /** PEBBLE_VA_ALWAYS_VALID: skip challenge validation entirely. */
  alwaysValid?: boolean;
  /** kid -> base64url HMAC key (`externalAccountMACKeys`). */
  eabKeys?: Record<string, string>;
  /** `externalAccountBindingRequired` (default false). */
  eabRequired?: boolean;
  /** Default: `default` (90 days) and `shortlived` (6 days). */
  profiles?: Record<string, PebbleProfile>;
  /** `-strict=true` (default false). */
  strict?: boolean;
  /** `retryAfter` seconds pebble sends on pending authzs / processing orders. */
  retryAfter?: { authz?: number; order?: number };
  /** `domainBlocklist`: names pebble refuses with rejectedIdentifier. */
  domainBlocklist?: string[];
  /** `keyAlgorithm` of pebble's own CA keys (pebble's default "rsa"). */
  keyAlgorithm?: "rsa" | "ecdsa";
  /** Extra environment (e.g. PEBBLE_CHAIN_LENGTH, PEBBLE_ALTERNATE_ROOTS); wins over the fields above. */
  env?: Record<string, string>;
  /** Readiness timeout (default 20 000 ms). */
  startTimeoutMs?: number;
  /** Another pebble binary (the quick start's user-local copy under .work/peers/); its caller checked the version. */
  bin?: string;
}

/** A running pebble. Stop it with `stop()` (or `await using`). */
export interface Pebble extends AsyncDisposable {
  /** https://127.0.0.1:PORT/dir */
  directoryUrl: string;
  /** https://127.0.0.1:MGMTPORT */
  managementUrl: string;
  /** CA that signed pebble's HTTPS certificate (not the ACME issuing root: see `rootPem`). */
  caFile: string;
  caPem: string;
  /** Ports pebble's VA uses for http-01 and tls-alpn-01 (point your responder or nginx here). */
  httpPort: number;
  tlsPort: number;
  /** The config file pebble was started with. */
  configFile: string;
  /** The temp dir holding config, certs and log; removed by `stop()`. */
  dir: string;
  /** The pebble process (a new one after `resume()`; the last one's after `pause()` or `stop()`). */
  readonly pid: number;
  /**
   * Stops the pebble process but keeps its ports, config and HTTPS certificate: clients see a CA that is down
   * (connection refused). `resume()` starts it again.
   */
  pause(): Promise<void>;
  /**
   * Starts a paused pebble again on the same ports with the same config and HTTPS certificate. Like a restarted
   * CA, it has a new issuing root and intermediate and has forgotten every account and order.
   */
  resume(): Promise<void>;
  /** GET /roots/0 on the management port: the root that issues this run's certificates (new on every start). */
  rootPem(): Promise<string>;
  /** GET /intermediates/0 on the management port. */
  intermediatePem(): Promise<string>;
  /** GET of the directory, parsed. */
  directory(): Promise<Record<string, unknown>>;
  /**
   * POST /set-renewal-info/ on the management port: from now on the ARI response for `certPem` (a PEM certificate
   * pebble issued; only its serial matters) is `ariResponse`, verbatim. An object is JSON-encoded; pass a string to
   * send malformed data on purpose. Throws on a non-200 answer (e.g. 404 for an unknown serial).
   */
  setRenewalInfo(
    certPem: string,
    ariResponse: string | { suggestedWindow: { start: string; end: string }; explanationURL?: string },
  ): Promise<void>;
  logTail(lines?: number): Promise<string>;
  /** Orders this pebble accepted so far ("Added order … to the db" in its logs, across `pause`/`resume`). */
  ordersPlaced(): Promise<number>;
  stop(): Promise<void>;
}

const DEFAULT_PROFILES: Record<string, PebbleProfile> = {
  default: { description: "90 days, like Let's Encrypt's classic profile", validityPeriod: 90 * 86_400 },
  shortlived: { description: "6 days", validityPeriod: 6 * 86_400 },
};

let versionCheck: Promise<void> | undefined;

/** Throws unless the installed pebble is 2.10.x. A success is remembered for the test process. */
export function checkPebbleVersion(): Promise<void> {
  versionCheck ??= (async () => {
    const dpkg = await run("dpkg-query", ["-W", "-f=${Version}", "pebble"]).catch(() => undefined);
    const version = dpkg?.code === 0 ? dpkg.stdout.trim() : "";
    if (version.startsWith(PEBBLE_VERSION_PREFIX)) return;
    // Not from the Debian package (or none installed): ask the binary (Debian's build says "dev").
    const own = (await run(PEBBLE_BIN, ["-version"]).catch(() => undefined))?.output.trim() ?? "";
    if (own.match(/version:\s*v?(\S+)/i)?.[1].startsWith(PEBBLE_VERSION_PREFIX)) return;
    const found = version ? `Debian package ${version}` : own ? `"${own}"` : "nothing";
    throw new Error(
      `pebble ${PEBBLE_VERSION_PREFIX}x is required at ${PEBBLE_BIN}, found ${found}: run .ci/install-peers.sh`,
    );
  })();
  versionCheck.catch(() => (versionCheck = undefined)); // retry after a failure (e.g. installed meanwhile)
  return versionCheck;
}

/** Starts pebble with a fresh CA for its HTTPS listeners and waits until the directory and management port answer. */
export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  await requireExecutable(opts.bin ?? PEBBLE_BIN);
  if (opts.bin === undefined) await checkPebbleVersion();
  const chosePorts = opts.port === undefined && opts.managementPort === undefined;
  return await retryOnAddressInUse(chosePorts, () => startOnce(opts));
}

async function startOnce(opts: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-pebble-" });
  try {
    const [p1, p2, p3, p4] = await freePorts(4);
    const port = opts.port ?? p1;
    const managementPort = opts.managementPort ?? p2;
    const httpPort = opts.httpPort ?? p3;
    const tlsPort = opts.tlsPort ?? p4;
    const ca = await makeTestCa(`${dir}/certs`);

    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: ca.serverCertFile,
        privateKey: ca.serverKeyFile,
        httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: opts.eabRequired ?? false,
        ...(opts.eabKeys ? { externalAccountMACKeys: opts.eabKeys } : {}),
        ...(opts.retryAfter ? { retryAfter: opts.retryAfter } : {}),
        ...(opts.domainBlocklist ? { domainBlocklist: opts.domainBlocklist } : {}),
        ...(opts.keyAlgorithm ? { keyAlgorithm: opts.keyAlgorithm } : {}),
        profiles: opts.profiles ?? DEFAULT_PROFILES,
      },
    };
    const configFile = `${dir}/pebble-config.json`;
    await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2) + "\n");

    // `-strict=false`, never `-strict false`: Go stops parsing flags at "false" and would drop -dnsserver.
    const args = ["-config", configFile, `-strict=${opts.strict ?? false}`];
    if (opts.dnsServer) args.push("-dnsserver", opts.dnsServer);
    const env: Record<string, string> = {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: String(opts.nonceReject ?? 0),
      PEBBLE_AUTHZREUSE: String(opts.authzReuse ?? 0),
      PEBBLE_VA_ALWAYS_VALID: opts.alwaysValid ? "1" : "0",
      ...opts.env,
    };
    const directoryUrl = `https://127.0.0.1:${port}/dir`;
    const managementUrl = `https://127.0.0.1:${managementPort}`;
    // Our CA is the only trust anchor, so a different process on the port can never pass the probe.
    const get = (url: string, signal?: AbortSignal) => httpsRequest(url, ca.caPem, { method: "GET", signal });

    let launches = 0;
    const launch = async () => {
      const proc = spawnLogged({
        name: "pebble",
        command: opts.bin ?? PEBBLE_BIN,
        args,
        env,
        logFile: `${dir}/pebble${launches++ === 0 ? "" : `-${launches}`}.log`,
        workDir: dir,
        cwd: dir,
      });
      await stopOnFailure(proc, () =>
        proc.waitFor(async (signal) => {
          const d = JSON.parse(await get(directoryUrl, signal));
          if (typeof d.newNonce !== "string") return false;
          await get(`${managementUrl}/roots/0`, signal);
          return true;
        }, { timeoutMs: opts.startTimeoutMs, failOn: /address already in use/ }));
      return proc;
    };
    let proc: Awaited<ReturnType<typeof launch>> | undefined = await launch();
    // The last process's pid stays readable after a stop (tests check that it is gone).
    let lastPid = proc.pid;

    let stopped: Promise<void> | undefined;
    const stop = () =>
      stopped ??= (async () => {
        await proc?.stop();
        proc = undefined;
        await removeWorkDir(dir);
      })();

    return {
      directoryUrl,
      managementUrl,
      caFile: ca.caFile,
      caPem: ca.caPem,
      httpPort,
      tlsPort,
      configFile,
      dir,
      get pid() {
        return lastPid;
      },
      pause: async () => {
        await proc?.stop();
        proc = undefined;
      },
      resume: async () => {
        if (stopped) throw new Error("pebble was stopped: start a new one");
        if (!proc) {
          proc = await launch();
          lastPid = proc.pid;
        }
      },
      rootPem: () => get(`${managementUrl}/roots/0`),
      intermediatePem: () => get(`${managementUrl}/intermediates/0`),
      directory: async () => JSON.parse(await get(directoryUrl)),
      setRenewalInfo: async (certPem, ariResponse) => {
        const body = JSON.stringify({
          certificate: certPem,
          ariResponse: typeof ariResponse === "string" ? ariResponse : JSON.stringify(ariResponse),
        });
        await httpsRequest(`${managementUrl}/set-renewal-info/`, ca.caPem, { method: "POST", body });
      },
      logTail: (lines) => proc?.logTail(lines) ?? Promise.resolve("(pebble is paused)"),
      ordersPlaced: async () => {
        let count = 0;
        for (let i = 1; i <= launches; i++) {
          const log = await Deno.readTextFile(`${dir}/pebble${i === 1 ? "" : `-${i}`}.log`).catch(() => "");
          count += log.split("Added order").length - 1;
        }
        return count;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await removeWorkDir(dir);
    throw e;
  }
}

/**
 * One request trusting only `caPem`, with a private HttpClient (closed afterwards) and a 5 s timeout (or `signal`).
 * Returns the body; throws on non-2xx.
 */
async function httpsRequest(
  url: string,
  caPem: string,
  init: { method: string; body?: string; signal?: AbortSignal },
): Promise<string> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`${init.method} ${url} timed out`)), 5_000);
  const signal = init.signal ? AbortSignal.any([abort.signal, init.signal]) : abort.signal;
  try {
    const res = await fetch(url, { method: init.method, body: init.body, client, signal });
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return text;
  } finally {
    clearTimeout(timer);
    client.close();
  }
}
