/**
 * Starts BIND 9 (`named -g`) on a free loopback port as the authoritative DNS server for test zones: pebble resolves
 * challenge names through it (`-dnsserver`), and acmems sends RFC 2136 updates to it (pebble-challtestsrv answers
 * UPDATE with NOTIMP, so it cannot stand in).
 *
 * Default zones (both also have `@` and `*` A 127.0.0.1, so any test name resolves to loopback):
 *   example.test  updates allowed from 127.0.0.1 and ::1 (no TSIG); `unreachable.example.test` A 127.0.0.2
 *   tsig.test     updates only when signed with the TSIG key `acmems-key` (hmac-sha256)
 */
import { freePort } from "./ports.ts";
import {
  type PeerProcess,
  removeWorkDir,
  requireExecutable,
  retryOnAddressInUse,
  run,
  runChecked,
  type RunResult,
  spawnLogged,
  stopOnFailure,
} from "./process.ts";

/** Where Debian installs named (not on a non-root PATH). */
export const NAMED_BIN = "/usr/sbin/named";
/** named's log lines when a listen socket cannot be bound (TCP says "address in use"; UDP only "interface ignored"). */
const BIND_FAILED = /address in use|interface .* failed; interface ignored/i;

/** Name of the fixture's TSIG key. */
export const TSIG_KEY_NAME = "acmems-key";

/** A TSIG key known to named. `secret` is base64. */
export interface NamedKey {
  name: string;
  algorithm: "hmac-sha256" | "hmac-sha384" | "hmac-sha512";
  secret: string;
}

/** A zone served by the fixture. Give either `allowUpdate` or `updatePolicy` (or neither: no updates). */
export interface NamedZone {
  /** Zone apex without trailing dot, e.g. "dns01.test". */
  name: string;
  /** `allow-update` ACL elements as written in named.conf: `"127.0.0.1"`, `"::1"`, `'key "acmems-key"'`. */
  allowUpdate?: string[];
  /** `update-policy` rules, e.g. `"grant acmems-key zonesub TXT"` (finer than allowUpdate; needs a key). */
  updatePolicy?: string[];
  /**
   * Zone-file lines; owners are relative to the zone unless they end with ".".
   * E.g. `"_acme-challenge.www CNAME x.example.test."`
   */
  records?: string[];
  /** Add `@` and `*` A 127.0.0.1 (default true). */
  loopbackWildcard?: boolean;
}

/** Options for `startNamed`. */
export interface NamedOptions {
  /** More zones (e.g. for dns-01 delegation tests). */
  extraZones?: NamedZone[];
  /**
   * Extra zone-file lines for the default zones (or extra zones). A relative owner goes into example.test; an
   * absolute owner ("www.tsig.test.") goes into the zone it belongs to.
   */
  records?: string[];
  /** More TSIG keys (e.g. for update-policy tests with a second key). */
  extraKeys?: NamedKey[];
  /** Secret (base64) of `acmems-key`. Default: 32 random bytes. */
  tsigSecret?: string;
  /**
   * Answer recursive queries (RD set) from loopback, as a CA's resolver would: a CNAME into another of these zones is
   * then followed (authoritative-only named returns just the CNAME, and pebble's VA does not chase it). Queries
   * without RD still get authoritative answers only. Default false.
   */
  recursion?: boolean;
  /** Listen port (default: a free one). With an explicit port, "address in use" is not retried. */
  port?: number;
  /** Readiness timeout (default 20 000 ms). */
  startTimeoutMs?: number;
}

/** A running named. Stop it with `stop()` (or `await using`). */
export interface Named extends AsyncDisposable {
  port: number;
  /** "127.0.0.1:PORT", as pebble's -dnsserver wants it. */
  address: string;
  /** The `acmems-key` TSIG key. */
  tsig: NamedKey;
  /** A file with the key in named.conf syntax (`nsupdate -k`). */
  tsigKeyFile: string;
  /** The temp dir holding config, zones, journals and log; removed by `stop()`. */
  dir: string;
  /** PID of the running named (a new one after `restart()`). */
  readonly pid: number;
  /** `dig +short` answers (over TCP) for `name`/`type`, e.g. `['"token"']` for TXT. */
  dig(name: string, type?: string): Promise<string[]>;
  /**
   * Runs `nsupdate -v` (TCP) against this server: `server` is prepended and `send` appended to `commands`.
   * `key: true` signs with `acmems-key` (`-y`), or pass another key. Never throws on a refused update: check `code`
   * and `output` (e.g. "update failed: REFUSED").
   */
  nsupdate(commands: string[], opts?: { key?: boolean | NamedKey }): Promise<RunResult>;
  logTail(lines?: number): Promise<string>;
  /**
   * Stops the named process (SIGTERM, awaited) but keeps its dir: config, zone files and update journals, so
   * `restart()` brings the same server back on the same port with every dynamic update it had. Tests of DNS outages.
   */
  halt(): Promise<void>;
  /** Starts named again from the same dir and port (halting it first if needed); waits until it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts named with the default zones plus `opts`, and waits until every zone answers over UDP and TCP. */
export async function startNamed(opts: NamedOptions = {}): Promise<Named> {
  return await retryOnAddressInUse(opts.port === undefined, () => startOnce(opts), {
    retryable: (m) => BIND_FAILED.test(m),
  });
}

async function startOnce(opts: NamedOptions): Promise<Named> {
  for (const bin of [NAMED_BIN, "/usr/bin/dig", "/usr/bin/nsupdate"]) await requireExecutable(bin);
  const dir = await Deno.makeTempDir({ prefix: "acmems-named-" });
  try {
    const port = opts.port ?? await freePort();
    const tsig: NamedKey = {
      name: TSIG_KEY_NAME,
      algorithm: "hmac-sha256",
      secret: opts.tsigSecret ?? randomSecret(),
    };
    const zones: Required<NamedZone>[] = [
      {
        name: "example.test",
        allowUpdate: ["127.0.0.1", "::1"],
        updatePolicy: [],
        records: [],
        loopbackWildcard: true,
      },
      {
        name: "tsig.test",
        allowUpdate: [`key "${TSIG_KEY_NAME}"`],
        updatePolicy: [],
        records: [],
        loopbackWildcard: true,
      },
      ...(opts.extraZones ?? []).map((z) => ({
        name: z.name.replace(/\.$/, "").toLowerCase(),
        allowUpdate: z.allowUpdate ?? [],
        updatePolicy: z.updatePolicy ?? [],
        records: [...(z.records ?? [])],
        loopbackWildcard: z.loopbackWildcard ?? true,
      })),
    ];
    zones[0].records.push("unreachable IN A 127.0.0.2"); // nothing listens there: validation-failure tests
    for (const line of opts.records ?? []) routeRecord(zones, line);

    // A per-start TXT record the readiness probe looks for, so another DNS server on the port cannot pass it.
    const instanceId = crypto.randomUUID();
    const keys = [tsig, ...(opts.extraKeys ?? [])];
    const keyBlock = (k: NamedKey) => `key "${k.name}" {\n  algorithm ${k.algorithm};\n  secret "${k.secret}";\n};\n`;
    const tsigKeyFile = `${dir}/tsig.key`;
    await Deno.writeTextFile(tsigKeyFile, keyBlock(tsig));
    await Deno.writeTextFile(
      `${dir}/named.conf`,
      namedConf(dir, port, keys.map(keyBlock).join(""), zones, opts.recursion ?? false),
    );
    for (const z of zones) await Deno.writeTextFile(`${dir}/${z.name}.zone`, zoneFile(z, instanceId));

    await runChecked("named-checkconf", [`${dir}/named.conf`]);
    for (const z of zones) await runChecked("named-checkzone", [z.name, `${dir}/${z.name}.zone`]);

    const dig = async (name: string, type = "A", tcp = true, signal?: AbortSignal) => {
      const args = [`@127.0.0.1`, "-p", String(port), "+short", "+tries=1", "+time=2", tcp ? "+tcp" : "+notcp"];
      const r = await runChecked("dig", [...args, name, type], { signal });
      return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    };
    // A restart appends to the same log; the earlier run's lines match none of the failOn patterns.
    const launch = async (): Promise<PeerProcess> => {
      const proc = spawnLogged({
        name: "named",
        command: NAMED_BIN,
        args: ["-g", "-c", `${dir}/named.conf`],
        logFile: `${dir}/named.log`,
        workDir: dir,
        cwd: dir,
      });
      await stopOnFailure(proc, () =>
        proc.waitFor(async (signal) => {
          for (const tcp of [false, true]) {
            for (const z of zones) {
              const answer = await dig(`_acmems-fixture.${z.name}`, "TXT", tcp, signal);
              if (answer[0] !== `"${instanceId}"`) return false;
            }
          }
          return true;
        }, {
          timeoutMs: opts.startTimeoutMs,
          // named keeps running when a listen socket fails, so read its log; "permission denied" is AppArmor's
          // usual veto of files outside /etc/bind (see .ci/install-peers.sh).
          failOn: new RegExp(
            `${BIND_FAILED.source}|permission denied|loading configuration: |exiting \\(due to fatal error\\)`,
            "i",
          ),
        }));
      return proc;
    };
    let proc = await launch();

    let stopped: Promise<void> | undefined;
    const stop = () =>
      stopped ??= (async () => {
        await proc.stop();
        await removeWorkDir(dir);
      })();
    const halt = async () => {
      await proc.stop();
    };
    const restart = async () => {
      if (stopped) throw new Error("named was stopped (its dir is gone): start a new one");
      await proc.stop();
      proc = await launch();
    };

    return {
      port,
      address: `127.0.0.1:${port}`,
      tsig,
      tsigKeyFile,
      dir,
      get pid() {
        return proc.pid;
      },
      dig: (name, type) => dig(name, type),
      nsupdate: (commands, o = {}) => {
        const key = o.key === true ? tsig : o.key || undefined;
        const script = [`server 127.0.0.1 ${port}`, ...commands];
        if (script.at(-1)?.trim() !== "send") script.push("send");
        const args = ["-v", ...(key ? ["-y", `${key.algorithm}:${key.name}:${key.secret}`] : [])];
        return run("nsupdate", args, { stdin: script.join("\n") + "\n" });
      },
      logTail: (lines) => proc.logTail(lines),
      halt,
      restart,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await removeWorkDir(dir);
    if (e instanceof Error && /permission denied/i.test(e.message)) {
      e.message += "\n(named could not read its temp dir: if AppArmor is enforcing, run .ci/install-peers.sh, " +
        "which allows /tmp/acmems-named-*; TMPDIR must be /tmp)";
    }
    throw e;
  }
}

function namedConf(
  dir: string,
  port: number,
  keys: string,
  zones: Required<NamedZone>[],
  recursion: boolean,
): string {
  const zoneBlocks = zones.map((z) => {
    const update = z.updatePolicy.length > 0
      ? `  update-policy {\n${z.updatePolicy.map((r) => `    ${r};`).join("\n")}\n  };\n`
      : z.allowUpdate.length > 0
      ? `  allow-update { ${z.allowUpdate.map((a) => `${a}; `).join("")}};\n`
      : "";
    return `zone "${z.name}" {\n  type primary;\n  file "${dir}/${z.name}.zone";\n${update}};\n`;
  });
  return `${keys}
options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 port ${port} { ::1; };
  ${recursion ? "recursion yes;\n  allow-recursion { 127.0.0.0/8; ::1; };" : "recursion no;"}
  dnssec-validation no;
  notify no;
  allow-query { 127.0.0.0/8; ::1; };
  allow-transfer { 127.0.0.0/8; ::1; };
  minimal-responses yes;
  querylog yes; // shows pebble's and acmems's queries in logTail()
  // pebble's VA asks over TCP, several connections per validation: with BIND's default queue of 10, a burst of
  // validations (30 orders at once) overflows it and the dropped SYNs come back after TCP's 1 s retransmission.
  tcp-listen-queue 512;
};
controls { }; // no rndc channel: nothing listens on 953 and no rndc.key is needed
${zoneBlocks.join("")}`;
}

function zoneFile(z: Required<NamedZone>, instanceId: string): string {
  const lines = [
    `$ORIGIN ${z.name}.`,
    "$TTL 60",
    `@ IN SOA ns.${z.name}. hostmaster.${z.name}. ( 1 60 60 600 30 )`,
    `@ IN NS ns.${z.name}.`,
    "ns IN A 127.0.0.1",
    `_acmems-fixture IN TXT "${instanceId}"`,
  ];
  if (z.loopbackWildcard) lines.push("@ IN A 127.0.0.1", "* IN A 127.0.0.1");
  return [...lines, ...z.records, ""].join("\n");
}

/** Adds a zone-file line to the zone its owner belongs to (relative owners go to example.test). */
function routeRecord(zones: Required<NamedZone>[], line: string): void {
  const owner = line.trim().split(/\s+/)[0].toLowerCase();
  if (!owner.endsWith(".")) {
    zones[0].records.push(line);
    return;
  }
  const name = owner.slice(0, -1);
  const zone = zones
    .filter((z) => name === z.name || name.endsWith(`.${z.name}`))
    .sort((a, b) => b.name.length - a.name.length)[0];
  if (!zone) {
    throw new Error(`startNamed: no zone for record "${line}" (zones: ${zones.map((z) => z.name).join(", ")})`);
  }
  zone.records.push(line);
}

function randomSecret(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}
