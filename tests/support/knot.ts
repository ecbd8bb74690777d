/**
 * Starts Knot DNS (`knotd`, Debian 12's 3.2) on a free loopback port as a second RFC 2136 server besides bind9
 * (tests/support/named.ts): its own config, zones, LMDB databases and control socket in a temp dir; stopped by PID.
 *
 * Knot differs from bind9 where dns-01 delegation lives: a *signed* query for a name in a zone whose ACL does not name
 * the key is answered NOTAUTH with TSIG error BADKEY (bind9 answers it). Unsigned queries are answered in every zone.
 *
 * Zones: each gets SOA, NS, `ns` A 127.0.0.1 and a per-start `_acmems-fixture` TXT (the readiness probe); `updateKey`
 * gives the zone an ACL allowing UPDATE signed with the fixture's key (`acmems-key`, hmac-sha256), and nothing else.
 * Zone files are never written back (`zonefile-sync: -1`): updates live in the journal in the temp dir.
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

/** Where Debian installs knotd and knotc (not on a non-root PATH). */
export const KNOTD_BIN = "/usr/sbin/knotd";
export const KNOTC_BIN = "/usr/sbin/knotc";
/** knotd's log line when a listen socket cannot be bound. */
const BIND_FAILED = /cannot bind address|address already in use/i;

/** Name of the fixture's TSIG key. */
export const KNOT_KEY_NAME = "acmems-key";

/** A TSIG key known to knotd. `secret` is base64. */
export interface KnotKey {
  name: string;
  algorithm: "hmac-sha256";
  secret: string;
}

/** A zone served by the fixture. */
export interface KnotZone {
  /** Zone apex without trailing dot, e.g. "zone-b.test". */
  name: string;
  /** Allow UPDATE signed with `acmems-key` (and nothing else). Default false: no updates at all. */
  updateKey?: boolean;
  /** Zone-file lines; owners relative to the zone unless they end with ".". */
  records?: string[];
}

export interface KnotOptions {
  zones: KnotZone[];
  /** Readiness timeout (default 20 000 ms). */
  startTimeoutMs?: number;
}

/** A running knotd. Stop it with `stop()` (or `await using`). */
export interface Knot extends AsyncDisposable {
  port: number;
  /** "127.0.0.1:PORT", as `dns-server =` takes it. */
  address: string;
  /** The `acmems-key` TSIG key. */
  tsig: KnotKey;
  /** The temp dir holding config, zones, databases and log; removed by `stop()`. */
  dir: string;
  readonly pid: number;
  /** `dig +short` answers (over TCP, no recursion) for `name`/`type`; `signed` signs the query with `acmems-key`. */
  dig(name: string, type?: string, opts?: { signed?: boolean }): Promise<string[]>;
  /** The full `dig` output (header with status, TSIG pseudosection) of one query over TCP. */
  digRaw(name: string, type: string, opts?: { signed?: boolean }): Promise<RunResult>;
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Starts knotd with `opts.zones` and waits until every zone answers over UDP and TCP. */
export async function startKnot(opts: KnotOptions): Promise<Knot> {
  return await retryOnAddressInUse(true, () => startOnce(opts), { retryable: (m) => BIND_FAILED.test(m) });
}

async function startOnce(opts: KnotOptions): Promise<Knot> {
  for (const bin of [KNOTD_BIN, KNOTC_BIN, "/usr/bin/dig"]) await requireExecutable(bin);
  const dir = await Deno.makeTempDir({ prefix: "acmems-knot-" });
  try {
    const port = await freePort();
    const tsig: KnotKey = { name: KNOT_KEY_NAME, algorithm: "hmac-sha256", secret: randomSecret() };
    const zones = opts.zones.map((z) => ({ ...z, name: z.name.replace(/\.$/, "").toLowerCase() }));
    const instanceId = crypto.randomUUID();
    await Deno.mkdir(`${dir}/db`);
    await Deno.writeTextFile(`${dir}/knot.conf`, knotConf(dir, port, tsig, zones));
    for (const z of zones) await Deno.writeTextFile(`${dir}/${z.name}.zone`, zoneFile(z, instanceId));
    await runChecked(KNOTC_BIN, ["-c", `${dir}/knot.conf`, "conf-check"]);

    const digArgs = (tcp: boolean, signed: boolean) => [
      "@127.0.0.1",
      "-p",
      String(port),
      "+norec",
      "+tries=1",
      "+time=2",
      tcp ? "+tcp" : "+notcp",
      ...(signed ? ["-y", `${tsig.algorithm}:${tsig.name}:${tsig.secret}`] : []),
    ];
    const dig = async (name: string, type = "A", o: { signed?: boolean; tcp?: boolean; signal?: AbortSignal } = {}) => {
      const r = await runChecked("dig", [...digArgs(o.tcp ?? true, o.signed ?? false), "+short", name, type], {
        signal: o.signal,
      });
      return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    };

    const proc: PeerProcess = spawnLogged({
      name: "knotd",
      command: KNOTD_BIN,
      args: ["-c", `${dir}/knot.conf`],
      logFile: `${dir}/knotd.log`,
      workDir: dir,
      cwd: dir,
    });
    await stopOnFailure(proc, () =>
      proc.waitFor(async (signal) => {
        for (const tcp of [false, true]) {
          for (const z of zones) {
            const answer = await dig(`_acmems-fixture.${z.name}`, "TXT", { tcp, signal });
            if (answer[0] !== `"${instanceId}"`) return false;
          }
        }
        return true;
      }, {
        timeoutMs: opts.startTimeoutMs,
        failOn: new RegExp(`${BIND_FAILED.source}|failed to load|critical:|error: .*(configuration|database)`, "i"),
      }));

    let stopped: Promise<void> | undefined;
    const stop = () =>
      stopped ??= (async () => {
        await proc.stop();
        await removeWorkDir(dir);
      })();
    return {
      port,
      address: `127.0.0.1:${port}`,
      tsig,
      dir,
      pid: proc.pid,
      dig: (name, type, o = {}) => dig(name, type, { signed: o.signed }),
      digRaw: (name, type, o = {}) => run("dig", [...digArgs(true, o.signed ?? false), name, type]),
      logTail: (lines) => proc.logTail(lines),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await removeWorkDir(dir);
    throw e;
  }
}

function knotConf(dir: string, port: number, key: KnotKey, zones: KnotZone[]): string {
  const zoneLines = zones.flatMap((z) => [`  - domain: ${z.name}`, ...(z.updateKey ? ["    acl: update-by-key"] : [])]);
  return `# tests/support/knot.ts
server:
  rundir: "${dir}"
  listen: 127.0.0.1@${port}
control:
  listen: "${dir}/knot.sock"
database:
  storage: "${dir}/db"
log:
  - target: stderr
    any: info
key:
  - id: ${key.name}
    algorithm: ${key.algorithm}
    secret: ${key.secret}
acl:
  - id: update-by-key
    key: ${key.name}
    action: update
template:
  - id: default
    storage: "${dir}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: off
zone:
${zoneLines.join("\n")}
`;
}

function zoneFile(z: KnotZone, instanceId: string): string {
  return [
    `$ORIGIN ${z.name}.`,
    "$TTL 60",
    `@ IN SOA ns.${z.name}. hostmaster.${z.name}. ( 1 60 60 600 30 )`,
    `@ IN NS ns.${z.name}.`,
    "ns IN A 127.0.0.1",
    `_acmems-fixture IN TXT "${instanceId}"`,
    ...(z.records ?? []),
    "",
  ].join("\n");
}

function randomSecret(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}
