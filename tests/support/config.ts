/**
 * The ONE builder of acmems config text for the tests and the bench: a structured description in, INI text out.
 *
 * Options are named exactly as the README's configuration reference spells them (`acme-server`, `ca-file`,
 * `sign-timeout`, `hmac_key` …), so a test reads like the config an operator writes. A value is written as is; `true`
 * is written `yes`; a list repeats the option (`listener`, `ip`, `domain`, `email`, …); `undefined` leaves it out.
 * Sections come in the README's order: `[account]`, `[ca "…"]`, `[mgmt]`, `[logging]`, then `[verification "…"]`,
 * `[storage "…"]`, `[notify "…"]`, `[auth "…"]` in insertion order (auth blocks are tried in order), then `raw` text
 * as given (for the odd case a test needs written by hand: a section twice, an unknown option, a comment).
 *
 * Pure: nothing here touches the disk except `writeConfig`, which writes the text to one file (not atomically; the
 * tests write a config before anything reads it).
 */

/** One option's value: text or a number, `true` (`yes`), a list (the option once per item), or left out. */
export type OptionValue = string | number | boolean | readonly (string | number)[] | undefined;

/** The options of one section, named as in the README (`"acme-server"`, `"sign-timeout"`, …). */
export type Options = Record<string, OptionValue>;

/** A whole config file. */
export interface ConfigSpec {
  /** First line(s), written as `# …` comments (e.g. which test wrote the file). */
  comment?: string;
  account?: Options;
  /** `[ca "NAME"]` blocks (more CAs, each with the options of `[account]`), written after `[account]`. */
  cas?: Record<string, Options>;
  mgmt?: Options;
  logging?: Options;
  /** `[verification "NAME"]` blocks. */
  verifications?: Record<string, Options>;
  /** `[storage "NAME"]` blocks. */
  storages?: Record<string, Options>;
  /** `[notify "NAME"]` blocks. */
  notify?: Record<string, Options>;
  /** `[auth "NAME"]` blocks, tried in this order. */
  auth?: Record<string, Options>;
  /** Raw INI text appended at the end, as given. */
  raw?: string;
}

/** The INI text of `spec`. */
export function configText(spec: ConfigSpec): string {
  const parts: string[] = [];
  if (spec.comment !== undefined) parts.push(spec.comment.split("\n").map((l) => `# ${l}`).join("\n") + "\n");
  if (spec.account) parts.push(section("[account]", spec.account));
  for (const [name, options] of Object.entries(spec.cas ?? {})) parts.push(section(`[ca "${name}"]`, options));
  if (spec.mgmt) parts.push(section("[mgmt]", spec.mgmt));
  if (spec.logging) parts.push(section("[logging]", spec.logging));
  const named: [string, Record<string, Options> | undefined][] = [
    ["verification", spec.verifications],
    ["storage", spec.storages],
    ["notify", spec.notify],
    ["auth", spec.auth],
  ];
  for (const [kind, blocks] of named) {
    for (const [name, options] of Object.entries(blocks ?? {})) parts.push(section(`[${kind} "${name}"]`, options));
  }
  if (spec.raw) parts.push(spec.raw.endsWith("\n") ? spec.raw : `${spec.raw}\n`);
  return parts.join("\n");
}

/** Writes `configText(spec)` to `file`; returns `file`. */
export async function writeConfig(file: string, spec: ConfigSpec): Promise<string> {
  await Deno.writeTextFile(file, configText(spec));
  return file;
}

function section(header: string, options: Options): string {
  const lines = [header];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || value === false) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) lines.push(`${key} = ${v === true ? "yes" : v}`);
  }
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------------------------
// The pieces most tests share

/** Where a test CA is: pebble (tests/support/pebble.ts) or anything with a directory URL and a CA file. */
export interface CaEndpoint {
  directoryUrl: string;
  caFile: string;
}

/** `[account]` for a test CA: its directory, its CA file, `dir` (default `account`), terms accepted; then `more`. */
export function caAccount(ca: CaEndpoint, dir = "account", more: Options = {}): Options {
  return {
    "acme-server": ca.directoryUrl,
    "ca-file": ca.caFile,
    dir,
    "accept-terms-of-service": true,
    ...more,
  };
}

/** `[verification "…"]` for http-01 on `127.0.0.1:PORT` (or `host:PORT`). */
export function http01(port: number, host = "127.0.0.1"): Options {
  return { type: "http01", listener: `${host}:${port}` };
}

/** `[storage "…"]` of type `file` in `directory`. */
export function fileStorage(directory: string, more: Options = {}): Options {
  return { type: "file", directory, ...more };
}

/** `[storage "…"]` of type `none` (no caching). */
export const NO_STORAGE: Options = { type: "none" };

/** `[auth "…"]` for clients at `ip` (default 127.0.0.1) asking for `domain` (default `*.example.test`). */
export function ipAuth(
  domain: string | string[] = "*.example.test",
  ip: string | string[] = "127.0.0.1",
  more: Options = {},
): Options {
  return { ip, domain, ...more };
}

/** Options for `testConfig`. */
export interface TestConfigOptions {
  /** The test CA (pebble). */
  ca: CaEndpoint;
  /** `[mgmt] listener = 127.0.0.1:PORT`. */
  mgmtPort: number;
  /** `[verification "http"]`: http-01 on `127.0.0.1:PORT` (null: no http verification). */
  httpPort: number | null;
  comment?: string;
  /** `[account] dir` (default `account`, relative to the config file). */
  accountDir?: string;
  /** More `[account]` options (after the CA, dir and terms). */
  account?: Options;
  /** More (or overriding) `[mgmt]` options; `sign-timeout` defaults to 60s. */
  mgmt?: Options;
  /** `[logging]` (default `level = debug`). */
  logging?: Options;
  /** More `[verification "…"]` blocks (after `http`). */
  verifications?: Record<string, Options>;
  /** `[storage "…"]` blocks (default none: the implicit file cache under the account dir). */
  storages?: Record<string, Options>;
  notify?: Record<string, Options>;
  /** `[auth "…"]` blocks (default `local`: 127.0.0.1 may ask for `*.example.test`). */
  auth?: Record<string, Options>;
  raw?: string;
}

/**
 * The usual test config: acmems in front of a test CA with terms accepted, one mgmt listener on 127.0.0.1, http-01
 * answered on `httpPort`, debug logs; every part can be extended or replaced.
 */
export function testConfig(o: TestConfigOptions): ConfigSpec {
  return {
    comment: o.comment,
    account: caAccount(o.ca, o.accountDir ?? "account", o.account),
    mgmt: { listener: `127.0.0.1:${o.mgmtPort}`, "sign-timeout": "60s", ...o.mgmt },
    logging: o.logging ?? { level: "debug" },
    verifications: { ...(o.httpPort === null ? {} : { http: http01(o.httpPort) }), ...o.verifications },
    storages: o.storages,
    notify: o.notify,
    auth: o.auth ?? { local: ipAuth() },
    raw: o.raw,
  };
}
