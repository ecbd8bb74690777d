/**
 * Runs the real lego (Debian 12's 4.9.1, installed by .ci/install-peers.sh) against an ACME server for tests:
 * acmems' front end (`https://127.0.0.1:PORT/acme/directory`) or pebble directly.
 *
 * Everything lego writes (`--path`: accounts/, certificates/) is under one temp dir, removed by `cleanup()`. It trusts
 * only the given CA file (LEGO_CA_CERTIFICATES), talks only to the server URL (loopback), and each command is stopped
 * by its PID after a time limit (tests/support/client_run.ts).
 *
 * lego quirks found on the way (4.9.1):
 * - `--email` is required ("You have to pass an account (email address) to the program using --email or -m"); the
 *   account is stored per server and email under `<path>/accounts/`.
 * - When the directory says `externalAccountRequired`, every `run` needs `--eab --kid --hmac`, even with an account
 *   already stored ("Server requires External Account Binding. Use --eab with --kid and --hmac.").
 * - A challenge type must be chosen even when every authorization is already `valid`, as acmems answers ("No
 *   challenge selected. You must specify at least one challenge: `--http`, `--tls`, `--dns`."): we pass `--http` on a
 *   free loopback port; lego binds it only to answer a challenge.
 * - `--hmac` is base64url without padding (what `acmems eab new` prints).
 * - With `--csr`, the files are named after the CSR's first name (`*` → `_`): `certificates/NAME.crt` is the leaf
 *   followed by the issuer chain (lego bundles by default), `NAME.issuer.crt` the chain; no key file is written.
 * - Server errors are printed as `acme: error: STATUS :: POST :: URL :: urn:ietf:params:acme:error:TYPE :: detail`.
 */
import { assertSucceeded, type ClientRun, runClient } from "./client_run.ts";
import { freePort } from "./ports.ts";
import { removeWorkDir, requireExecutable } from "./process.ts";
import type { Eab } from "./certbot.ts";

/** The lego binary (Debian's path). */
export const LEGO_BIN = "/usr/bin/lego";

/** Options for `makeLego`. */
export interface LegoOptions {
  /** The ACME directory URL. */
  server: string;
  /** PEM CA certificate(s) trusted for the server's HTTPS (LEGO_CA_CERTIFICATES). */
  caFile: string;
  /** The EAB pair (absent: no `--eab` flags). */
  eab?: Eab;
  /** The account's email (default `host@example.test`). */
  email?: string;
  parentDir?: string;
  /** Time limit of each command (default 120 000 ms). */
  timeoutMs?: number;
}

/** The files of a certificate lego obtained. */
export interface LegoCertificate extends ClientRun {
  /** The leaf followed by the chain. */
  bundleFile: string;
  /** The issuer chain. */
  issuerFile: string;
  /** The key lego made (only without `--csr`). */
  keyFile?: string;
}

/** One lego data dir in a temp dir. */
export interface Lego {
  dir: string;
  /** `--csr csrFile run` (the host keeps its key); `name` is the CSR's first name (the file name lego picks). */
  runCsr(csrFile: string, name: string, opts?: { eab?: Eab | null }): Promise<LegoCertificate>;
  /** `--domains NAME… run`: lego makes the key (ec256). */
  runDomains(names: string[], opts?: { eab?: Eab | null }): Promise<LegoCertificate>;
  /** Any lego command line (global flags first), with the server, path, email and trust set. */
  run(args: string[], opts?: { eab?: Eab | null }): Promise<ClientRun>;
  cleanup(): Promise<void>;
}

/** Prepares a lego with its own temp dir (nothing runs yet). Throws if lego is not installed. */
export async function makeLego(opts: LegoOptions): Promise<Lego> {
  await requireExecutable(LEGO_BIN);
  const dir = await Deno.makeTempDir({ prefix: "acmems-lego-", dir: opts.parentDir });
  const data = `${dir}/data`;
  const eabFlags = (eab: Eab | null | undefined) => {
    const pair = eab === null ? undefined : eab ?? opts.eab;
    return pair ? ["--eab", "--kid", pair.kid, "--hmac", pair.hmacKey] : [];
  };
  const run = async (args: string[], o: { eab?: Eab | null } = {}) =>
    await runClient(LEGO_BIN, [
      "--server",
      opts.server,
      "--path",
      data,
      "--accept-tos",
      "--email",
      opts.email ?? "host@example.test",
      ...eabFlags(o.eab),
      "--http",
      "--http.port",
      `127.0.0.1:${await freePort()}`,
      ...args,
    ], { home: dir, env: { LEGO_CA_CERTIFICATES: opts.caFile }, timeoutMs: opts.timeoutMs });
  const files = (name: string) => {
    const stem = `${data}/certificates/${name.replace(/\*/g, "_")}`;
    return { bundleFile: `${stem}.crt`, issuerFile: `${stem}.issuer.crt`, keyFile: `${stem}.key` };
  };
  return {
    dir,
    async runCsr(csrFile, name, o = {}) {
      const r = await run(["--csr", csrFile, "run"], o);
      const { bundleFile, issuerFile } = files(name);
      return { ...r, bundleFile, issuerFile };
    },
    async runDomains(names, o = {}) {
      const r = await run([...names.flatMap((n) => ["--domains", n]), "--key-type", "ec256", "run"], o);
      return { ...r, ...files(names[0]) };
    },
    run,
    cleanup: () => removeWorkDir(dir),
  };
}

/** Throws with lego's command line and output unless it succeeded. */
export function assertLegoSucceeded(r: ClientRun): void {
  assertSucceeded(r, "lego");
}
