/**
 * `acmems eab new BLOCK [CONFIG…]`: a fresh external account binding (EAB) pair for the ACME front end (`/acme/`):
 * a random url-safe key id and a 32-byte HMAC key (base64url), printed once on stdout as the two lines to paste into
 * `[auth "BLOCK"]` (`acme-eab-kid`, `acme-eab-hmac-key`) and as ready-to-run certbot and lego flags.
 *
 * With CONFIG files, BLOCK must be one of their `[auth]` blocks (an unknown one is an error naming the known ones)
 * and the directory URL's HOST:PORT is the first mgmt listener's; without, it is `HOST:1313` to fill in. Writes
 * nothing: the operator pastes the lines into a config file of mode 0600 (the key is a secret, never shown again).
 */
import { b64url } from "../src/acme/encoding.ts";
import type { Config, ListenAddress } from "../src/config/types.ts";
import { shellWord } from "../src/config/text.ts";
import { consoleOutput, loadConfigOrReport } from "./_config.ts";
import type { Output } from "./register_key.ts";
import { type Subcommand, UsageError } from "./usage.ts";

const USAGE = `Usage: acmems eab new BLOCK [CONFIG...]

Prints a fresh external account binding (EAB) pair for the ACME front end (/acme/directory) and the auth block
BLOCK: a random key id and a 32-byte HMAC key (base64url), as the two lines to paste into [auth "BLOCK"]
(acme-eab-kid = ..., acme-eab-hmac-key = ...), and the --server/--eab flags for certbot and lego. The key is a
secret: it is printed on stdout only this once; store it in the config file with mode 0600 (chmod 600 FILE).

With CONFIG files, BLOCK must be one of their [auth] blocks, and the directory URL uses the first [mgmt] listener
(https://HOST:PORT/acme/directory); without, HOST:1313 is a placeholder to fill in. Writes no file.

Options:
  -h, --help  show this help

Exit status: 0 printed, 1 invalid config or unknown BLOCK, 2 usage error.
`;

/** The default mgmt port (README: `[mgmt] listener`), used in the URL when no config is given. */
const DEFAULT_MGMT_PORT = 1313;

/** What the command line asks for. */
export interface EabOptions {
  block: string;
  files: string[];
}

/** Parses `new BLOCK [CONFIG…]`. Throws UsageError. */
export function parseEabArgs(args: string[]): EabOptions {
  const words = args.filter((a) => a !== "--");
  const unknown = words.find((a) => a.startsWith("-") && a !== "-");
  if (unknown !== undefined) throw new UsageError(`unknown option "${unknown}"`);
  const [action, block, ...files] = words;
  if (action === undefined) throw new UsageError('no action given: write "acmems eab new BLOCK [CONFIG...]"');
  if (action !== "new") throw new UsageError(`unknown action "${action}": the only one is "new"`);
  if (block === undefined || block === "") throw new UsageError("no auth block named: write acmems eab new BLOCK");
  // deno-lint-ignore no-control-regex
  if (/["\\\x00-\x1f\x7f]/.test(block)) {
    throw new UsageError(`the block name ${JSON.stringify(block)} has a quote, backslash or control character`);
  }
  return { block, files };
}

/** A fresh EAB pair. */
export interface EabPair {
  /** Random, url-safe (base64url of 16 bytes: 22 characters). */
  kid: string;
  /** base64url of 32 random bytes (43 characters), the form CAs hand out and `acme-eab-hmac-key` takes. */
  hmacKey: string;
}

/**
 * A new pair from `random` (default: the system's CSPRNG). Neither value starts with "-" (drawn again, 1 in 64):
 * certbot and lego would take `--eab-kid -x…` for an option.
 */
export function newEabPair(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): EabPair {
  const draw = (size: number) => {
    for (let i = 0; i < 100; i++) {
      const value = b64url(random(new Uint8Array(size)));
      if (!value.startsWith("-")) return value;
    }
    throw new Error("the random source keeps giving values that start with '-'");
  };
  return { kid: draw(16), hmacKey: draw(32) };
}

/**
 * The directory URL hosts use: `https://HOST:PORT/acme/directory` from the first mgmt listener (a wildcard address
 * becomes `hostname`, the machine's name; a link-local zone is dropped), or `HOST:1313` without a config.
 */
export function directoryUrl(listener: ListenAddress | undefined, hostname: () => string = Deno.hostname): string {
  if (!listener) return `https://HOST:${DEFAULT_MGMT_PORT}/acme/directory`;
  const h = listener.hostname.replace(/%.*$/, "");
  const host = h === "0.0.0.0" || h === "::" ? hostname() : h.includes(":") ? `[${h}]` : h;
  return `https://${host}:${listener.port}/acme/directory`;
}

/** The lines printed on stdout: the config lines, then the certbot and lego commands. */
export function renderEab(block: string, pair: EabPair, server: string): string {
  const s = shellWord(server);
  const kid = shellWord(pair.kid);
  const key = shellWord(pair.hmacKey);
  return [
    `# Paste into [auth "${block}"] of a config file of mode 0600 (chmod 600 FILE): the key is a secret,`,
    "# printed only this once. Then reload acmems (SIGHUP).",
    `acme-eab-kid = ${pair.kid}`,
    `acme-eab-hmac-key = ${pair.hmacKey}`,
    "",
    "# certbot (--csr host.csr instead of -d NAME to keep a key you made):",
    `certbot certonly --server ${s} --eab-kid ${kid} --eab-hmac-key ${key} --standalone -d NAME`,
    "",
    "# lego (--csr host.csr instead of --domains to keep a key you made):",
    `lego --server ${s} --eab --kid ${kid} --hmac ${key} --accept-tos --email ADDRESS --http --domains NAME run`,
  ].join("\n");
}

/** Runs `eab new`: prints to `out.info` (stdout) and warnings to `out.error`; resolves to the exit status. */
export async function runEab(
  opts: EabOptions,
  out: Output,
  deps: { pair?: () => EabPair; hostname?: () => string } = {},
): Promise<number> {
  let config: Config | null = null;
  if (opts.files.length > 0) {
    config = await loadConfigOrReport(opts.files, out);
    if (!config) return 1;
    const block = config.auth.find((b) => b.name === opts.block);
    if (!block) {
      const known = config.auth.map((b) => `"${b.name}"`).join(", ") || "none";
      out.error(
        `acmems eab: no [auth "${opts.block}"] block in ${opts.files.join(", ")}; its auth blocks: ${known}. ` +
          "Add the block first, or name one of these.",
      );
      return 1;
    }
    if (block.acmeEab) {
      out.error(
        `acmems eab: [auth "${block.name}"] (${block.source.file}:${block.source.line}) already has acme-eab-kid = ` +
          `${block.acmeEab.kid}: replace both of its lines with the new ones.`,
      );
    }
    if (!config.mgmt.tlsCert) {
      out.error(
        "acmems eab: warning: the mgmt listeners speak plain HTTP; certbot and lego need HTTPS: set [mgmt] " +
          "tls-cert and tls-key.",
      );
    }
  }
  const pair = (deps.pair ?? newEabPair)();
  const server = directoryUrl(config?.mgmt.listeners[0], deps.hostname);
  out.info(renderEab(opts.block, pair, server));
  out.error(
    `acmems eab: the HMAC key is a secret and is shown only this once: store the two lines in [auth "${opts.block}"] ` +
      "of a config file of mode 0600 (chmod 600 FILE), and give the key to the host over a private channel.",
  );
  if (!config) out.error(`acmems eab: no config given: replace HOST:${DEFAULT_MGMT_PORT} with acmems' mgmt listener.`);
  return 0;
}

export const eabCommand: Subcommand = {
  name: "eab",
  summary: "print a new EAB key pair for an auth block (ACME front end)",
  usage: USAGE,
  run: (args: string[]) => runEab(parseEabArgs(args), consoleOutput),
};
