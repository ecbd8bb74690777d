/**
 * A throwaway PostgreSQL 15 for tests: `initdb` into a temp dir, `postgres` on a free loopback port, stopped by PID.
 *
 * PostgreSQL refuses to run as root, so both run as the `postgres` user through `setpriv` (which `exec`s, so the PID
 * the fixture holds is the postmaster's own). The cluster trusts every local connection (`--auth=trust`), runs with
 * `fsync=off` and listens on 127.0.0.1 only; its socket dir is inside the temp dir. Nothing is left behind: `stop()`
 * asks for a fast shutdown (SIGINT), waits, SIGKILLs if needed and removes the dir. A start that fails throws with
 * the server log's tail (never a silent skip: .ci/install-peers.sh installs the `postgresql` package).
 *
 * `restart()` keeps the data dir and port (the "database restarted" scenario); `kill()` stops it without removing
 * anything. `connections(app)` counts sessions of an `application_name` (teardown checks that none leaked).
 * `trackStatements` loads pg_stat_statements (contrib, in Debian's postgresql-15): `statementCalls(database)` then
 * counts the statements run on a database, by normalised text (the "database shows no per-token query" checks).
 */
import postgres from "postgres";
import { freePort } from "./ports.ts";
import {
  type PeerProcess,
  removeWorkDir,
  requireExecutable,
  retryOnAddressInUse,
  run,
  runChecked,
  spawnLogged,
  stopOnFailure,
} from "./process.ts";

/** Debian's PostgreSQL 15 binaries. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
const SETPRIV = "/usr/bin/setpriv";
const PG_USER = "postgres";

export interface PostgresOptions {
  /** Port (default: a free one; "address in use" is then retried with another). */
  port?: number;
  /** Readiness timeout (default 20 000 ms). */
  startTimeoutMs?: number;
  /** Load pg_stat_statements, for `statementCalls` (default false). */
  trackStatements?: boolean;
}

/** One normalised statement (constants as `$1`…) and how often it ran. */
export interface StatementCalls {
  query: string;
  calls: number;
}

export interface Postgres extends AsyncDisposable {
  /** postgres://acmems@127.0.0.1:PORT/acmems */
  url: string;
  port: number;
  /** The server's PID (changes on restart). */
  readonly pid: number;
  /** The temp dir (data dir, socket dir, log). */
  dir: string;
  /** A URL for another database on this server (see `createDatabase`). */
  urlFor(database: string): string;
  /** Creates a database (owned by the test user) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Sessions connected with this application_name (or every client session when omitted). */
  connections(applicationName?: string): Promise<number>;
  /** Runs one SQL statement as the superuser on `database` (default acmems) and returns the rows. */
  query(text: string, database?: string): Promise<Record<string, unknown>[]>;
  /**
   * Every statement run on `database` so far, by normalised text, with its number of executions (needs
   * `trackStatements`; the fixture's own statements on that database count too).
   */
  statementCalls(database: string): Promise<StatementCalls[]>;
  /** Stops the server (fast shutdown, or `immediate` = SIGQUIT, a crash-like stop), keeping its data. */
  kill(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts it again on the same data dir and port. */
  restart(): Promise<void>;
  logTail(lines?: number): Promise<string>;
  /** Stops the server and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

let usable: Promise<void> | undefined;

/** Throws a clear error unless PostgreSQL 15 and setpriv are there and the `postgres` user exists. */
function checkInstalled(): Promise<void> {
  usable ??= (async () => {
    await requireExecutable(`${PG_BIN}/initdb`);
    await requireExecutable(`${PG_BIN}/postgres`);
    await requireExecutable(SETPRIV);
    const id = await run("id", ["-u", PG_USER]);
    if (id.code !== 0) throw new Error(`no "${PG_USER}" user: install the postgresql package (.ci/install-peers.sh)`);
  })();
  usable.catch(() => (usable = undefined));
  return usable;
}

/** `setpriv` arguments that run `command` as the postgres user (with its groups, without a login shell). */
function asPostgres(command: string, args: string[]): string[] {
  return ["--reuid", PG_USER, "--regid", PG_USER, "--init-groups", "--", command, ...args];
}

/** initdb + postgres on a free loopback port; resolves once it accepts connections. */
export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  await checkInstalled();
  const dir = await Deno.makeTempDir({ prefix: "acmems-pg-" });
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.mkdir(`${dir}/data`, { mode: 0o700 });
    await Deno.mkdir(`${dir}/run`, { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/postgres.log`, "");
    await runChecked("chown", ["-R", `${PG_USER}:${PG_USER}`, dir]);
    await runChecked(SETPRIV, [
      ...asPostgres(`${PG_BIN}/initdb`, [
        "-D",
        `${dir}/data`,
        "-U",
        "acmems",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
      ]),
    ], { cwd: dir });
    let port = opts.port ?? 0;
    let proc: PeerProcess | undefined;
    await retryOnAddressInUse(opts.port === undefined, async () => {
      port = opts.port ?? await freePort();
      proc = await launch(dir, port, opts);
    }, { retryable: (m) => /address (already )?in use|could not bind/i.test(m) });

    const superuser = (database = "acmems") =>
      postgres(`postgres://acmems@127.0.0.1:${port}/${database}`, {
        max: 1,
        connect_timeout: 5,
        onnotice: () => {},
        connection: { application_name: "acmems-test-fixture" },
      });
    const query = async (text: string, database = "acmems") => {
      const sql = superuser(database);
      try {
        return [...await sql.unsafe(text)] as Record<string, unknown>[];
      } finally {
        await sql.end({ timeout: 5 });
      }
    };
    // The default database of the URLs.
    await query("create database acmems", "postgres").catch((e) => {
      if (!/already exists/.test(String(e))) throw e;
    });
    if (opts.trackStatements) await query("create extension if not exists pg_stat_statements");

    let stopped: Promise<void> | undefined;
    const kill = async (mode: "fast" | "immediate" = "fast") => {
      const p = proc;
      if (!p || p.exitStatus) return;
      try {
        Deno.kill(p.pid, mode === "fast" ? "SIGINT" : "SIGQUIT");
      } catch {
        // Already gone.
      }
      await p.stop(10_000);
    };
    const fixture: Postgres = {
      get url() {
        return `postgres://acmems@127.0.0.1:${port}/acmems`;
      },
      port,
      get pid() {
        return proc!.pid;
      },
      dir,
      urlFor: (database) => `postgres://acmems@127.0.0.1:${port}/${database}`,
      createDatabase: async (name) => {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
        await query(`create database ${name}`, "postgres");
        return `postgres://acmems@127.0.0.1:${port}/${name}`;
      },
      connections: async (applicationName) => {
        const filter = applicationName === undefined
          ? "application_name <> 'acmems-test-fixture' and backend_type = 'client backend'"
          : `application_name = '${applicationName.replaceAll("'", "''")}'`;
        const rows = await query(`select count(*)::int as n from pg_stat_activity where ${filter}`);
        return Number(rows[0].n);
      },
      query,
      statementCalls: async (database) => {
        if (!opts.trackStatements) throw new Error("statementCalls needs startPostgres({ trackStatements: true })");
        const rows = await query(
          `select s.query, sum(s.calls)::int as calls from pg_stat_statements s join pg_database d on d.oid = s.dbid
            where d.datname = '${database.replaceAll("'", "''")}' group by s.query`,
        );
        return rows.map((r) => ({ query: String(r.query), calls: Number(r.calls) }));
      },
      kill,
      restart: async () => {
        await kill("fast");
        proc = await launch(dir, port, opts);
      },
      logTail: (lines) => proc!.logTail(lines),
      stop: () =>
        stopped ??= (async () => {
          await kill("fast");
          await removeWorkDir(dir);
        })(),
      [Symbol.asyncDispose]: () => fixture.stop(),
    };
    return fixture;
  } catch (e) {
    await removeWorkDir(dir);
    throw e;
  }
}

async function launch(dir: string, port: number, opts: PostgresOptions): Promise<PeerProcess> {
  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const tracking = opts.trackStatements
    ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"]
    : [];
  const proc = spawnLogged({
    name: "postgres",
    command: SETPRIV,
    args: asPostgres(`${PG_BIN}/postgres`, [
      "-D",
      `${dir}/data`,
      "-p",
      String(port),
      "-k",
      `${dir}/run`,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=200",
      ...tracking,
    ]),
    logFile: `${dir}/postgres.log`,
    workDir: dir,
    cwd: dir,
  });
  await stopOnFailure(proc, () =>
    proc.waitFor(async (signal) => {
      const r = await run(`${PG_BIN}/pg_isready`, ["-h", "127.0.0.1", "-p", String(port), "-U", "acmems", "-t", "1"], {
        signal,
      });
      return r.code === 0;
    }, { timeoutMs, intervalMs: 50, failOn: /could not bind|address already in use/ }));
  return proc;
}
