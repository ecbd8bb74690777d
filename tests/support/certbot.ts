/**
 * Runs the real certbot (Debian 12's 2.1, installed by .ci/install-peers.sh) against an ACME server for tests:
 * acmems' front end (`https://127.0.0.1:PORT/acme/directory`) or pebble directly.
 *
 * Everything certbot writes (config, work and logs dirs, the certificate files) is under one temp dir, removed by
 * `cleanup()`; no root paths. It trusts only the given CA file (REQUESTS_CA_BUNDLE), talks only to the server URL
 * (loopback), and each command is stopped by its PID after a time limit (tests/support/client_run.ts).
 *
 * certbot quirks found on the way (2.1.0):
 * - `certonly` needs an authenticator even when every authorization is already `valid` (as acmems answers): we pass
 *   `--standalone` on a free loopback port; it binds only if a challenge must be answered, which never happens with
 *   acmems (and happens with pebble only without PEBBLE_VA_ALWAYS_VALID).
 * - Non-interactive registration needs `--agree-tos` and `--register-unsafely-without-email` (or `-m`).
 * - `--csr` writes `--cert-path`, `--chain-path`, `--fullchain-path` (default `./0000_cert.pem`… in the cwd) and
 *   keeps no lineage, so `certbot renew` does not know it; without `--csr` the files are under
 *   `<config-dir>/live/<cert-name>/`.
 * - `--eab-kid`/`--eab-hmac-key` only matter when the account is created; later runs reuse the account stored in
 *   the config dir for that server URL.
 * - `renew` without a terminal first sleeps a random time (minutes) unless `--no-random-sleep-on-renew`.
 * - `revoke --cert-path` signs with the stored account key (or with `--key-path`: the certificate's key); it asks
 *   whether to delete the lineage unless `--no-delete-after-revoke`.
 * - A problem document from the server is logged as `urn:ietf:params:acme:error:TYPE :: title :: detail` in
 *   `<logs-dir>/letsencrypt.log`. Errors during account creation (a bad EAB) are printed on the terminal too, but
 *   Debian's certbot 2.1 on Python 3.11 prints any other one (e.g. `rejectedIdentifier` at newOrder) only as
 *   "An unexpected error occurred: AttributeError: can't set attribute" (josepy's immutable `messages.Error` meets
 *   contextlib setting `__traceback__`; fixed in later certbots): the problem is only in the log. `CertbotRun.log`
 *   is what one command appended to it; `certbotReport` is terminal + log.
 */
import { assertSucceeded, type ClientRun, runClient } from "./client_run.ts";
import { freePort } from "./ports.ts";
import { removeWorkDir, requireExecutable } from "./process.ts";

/** The certbot binary (Debian's path). */
export const CERTBOT_BIN = "/usr/bin/certbot";

/** An EAB pair as the CA (or `acmems eab new`) hands it out; the key is base64url. */
export interface Eab {
  kid: string;
  hmacKey: string;
}

/** Options for `makeCertbot`. */
export interface CertbotOptions {
  /** The ACME directory URL. */
  server: string;
  /** PEM CA certificate(s) trusted for the server's HTTPS (REQUESTS_CA_BUNDLE). */
  caFile: string;
  /** The EAB pair for account creation (absent: no `--eab-*` flags). */
  eab?: Eab;
  /** Parent of the temp dir (default the system's). */
  parentDir?: string;
  /** Time limit of each command (default 120 000 ms). */
  timeoutMs?: number;
}

/** One certbot command: its terminal output and what it wrote to letsencrypt.log. */
export interface CertbotRun extends ClientRun {
  /** The lines this command added to `<logs-dir>/letsencrypt.log` (where certbot 2.1 puts the server's problem). */
  log: string;
}

/** The files of a certificate certbot obtained. */
export interface CertbotCertificate extends CertbotRun {
  certFile: string;
  chainFile: string;
  fullchainFile: string;
  /** The private key certbot made (only without `--csr`). */
  keyFile?: string;
}

/** One certbot installation in a temp dir. */
export interface Certbot {
  /** The temp dir (config/, work/, logs/, certificate files). */
  dir: string;
  /** `certonly --csr csrFile`: the host keeps its key. Returns the run; the files exist when `code` is 0. */
  certonlyCsr(csrFile: string, opts?: { eab?: Eab | null; name?: string }): Promise<CertbotCertificate>;
  /** `certonly -d NAME…`: certbot makes the key (ECDSA P-256 by default). */
  certonlyOwnKey(names: string[], opts?: { eab?: Eab | null; certName?: string }): Promise<CertbotCertificate>;
  /** `revoke --cert-path FILE` signed by the account key (or by `keyFile`, the certificate's key). */
  revoke(certFile: string, opts?: { reason?: string; keyFile?: string }): Promise<CertbotRun>;
  /** Any certbot command with the dir flags, the server and the trust set. */
  run(args: string[]): Promise<CertbotRun>;
  /** Removes the temp dir. */
  cleanup(): Promise<void>;
}

/** Prepares a certbot with its own temp dir (nothing runs yet). Throws if certbot is not installed. */
export async function makeCertbot(opts: CertbotOptions): Promise<Certbot> {
  await requireExecutable(CERTBOT_BIN);
  const dir = await Deno.makeTempDir({ prefix: "acmems-certbot-", dir: opts.parentDir });
  const common = [
    "--non-interactive",
    "--config-dir",
    `${dir}/config`,
    "--work-dir",
    `${dir}/work`,
    "--logs-dir",
    `${dir}/logs`,
    "--max-log-backups",
    "0",
    "--server",
    opts.server,
  ];
  const logFile = `${dir}/logs/letsencrypt.log`;
  const readLog = () => Deno.readTextFile(logFile).catch(() => "");
  const run = async (args: string[]): Promise<CertbotRun> => {
    const before = (await readLog()).length; // with --max-log-backups 0 certbot appends to one log
    const r = await runClient(CERTBOT_BIN, [...args, ...common], {
      home: dir,
      env: { REQUESTS_CA_BUNDLE: opts.caFile },
      timeoutMs: opts.timeoutMs,
    });
    return { ...r, log: (await readLog()).slice(before) };
  };
  /** `null`: no EAB flags even when the options have a pair; undefined: the options' pair. */
  const eabFlags = (eab: Eab | null | undefined) => {
    const pair = eab === null ? undefined : eab ?? opts.eab;
    return pair ? ["--eab-kid", pair.kid, "--eab-hmac-key", pair.hmacKey] : [];
  };
  const registration = ["--agree-tos", "--register-unsafely-without-email"];
  const authenticator = async () => [
    "--standalone",
    "--http-01-address",
    "127.0.0.1",
    "--http-01-port",
    String(await freePort()),
  ];
  let count = 0;
  return {
    dir,
    async certonlyCsr(csrFile, o = {}) {
      const stem = `${dir}/${o.name ?? `csr-${++count}`}`;
      const files = {
        certFile: `${stem}.cert.pem`,
        chainFile: `${stem}.chain.pem`,
        fullchainFile: `${stem}.fullchain.pem`,
      };
      const r = await run([
        "certonly",
        ...registration,
        ...eabFlags(o.eab),
        ...await authenticator(),
        "--csr",
        csrFile,
        "--cert-path",
        files.certFile,
        "--chain-path",
        files.chainFile,
        "--fullchain-path",
        files.fullchainFile,
      ]);
      return { ...r, ...files };
    },
    async certonlyOwnKey(names, o = {}) {
      const certName = o.certName ?? `own-${++count}`;
      const r = await run([
        "certonly",
        ...registration,
        ...eabFlags(o.eab),
        ...await authenticator(),
        "--cert-name",
        certName,
        "--key-type",
        "ecdsa",
        ...names.flatMap((n) => ["-d", n]),
      ]);
      const live = `${dir}/config/live/${certName}`;
      return {
        ...r,
        certFile: `${live}/cert.pem`,
        chainFile: `${live}/chain.pem`,
        fullchainFile: `${live}/fullchain.pem`,
        keyFile: `${live}/privkey.pem`,
      };
    },
    revoke(certFile, o = {}) {
      return run([
        "revoke",
        "--cert-path",
        certFile,
        "--no-delete-after-revoke",
        ...(o.reason ? ["--reason", o.reason] : []),
        ...(o.keyFile ? ["--key-path", o.keyFile] : []),
      ]);
    },
    run,
    cleanup: () => removeWorkDir(dir),
  };
}

/** `assertSucceeded` with certbot's log added (its terminal output often says only "see the log"). */
export function assertCertbotSucceeded(r: CertbotRun): void {
  assertSucceeded({ ...r, output: `${r.output}\n--- letsencrypt.log of this run ---\n${r.log}` }, "certbot");
}

/** The terminal output and the log of a certbot run: where a test looks for the server's problem type. */
export function certbotReport(r: CertbotRun): string {
  return `${r.output}\n${r.log}`;
}
