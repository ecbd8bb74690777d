/**
 * Shared setup of the end-to-end tests: acmems config text for a pebble CA, and cleanup in reverse order.
 */
import type { Pebble } from "../support/pebble.ts";

/** Config text for one acmems instance in front of `pebble`, with an http01 listener on `httpPort`. */
export function acmemsConfig(opts: {
  pebble: Pebble;
  mgmtPort: number;
  /** More management listeners (`[::1]:PORT`). */
  extraMgmtListeners?: string[];
  httpPort: number;
  /** `[auth …]` blocks (default: 127.0.0.1 may ask for *.example.test). */
  auth?: string;
  signTimeout?: string;
  /** `debug` logs every ACME order ("acme new order"), which tests count. */
  logLevel?: string;
}): string {
  return `# acmems end-to-end test config
[account]
acme-server = ${opts.pebble.directoryUrl}
ca-file = ${opts.pebble.caFile}
dir = account
accept-terms-of-service = yes

[mgmt]
listener = 127.0.0.1:${opts.mgmtPort}
${(opts.extraMgmtListeners ?? []).map((l) => `listener = ${l}\n`).join("")}sign-timeout = ${opts.signTimeout ?? "60s"}

[logging]
level = ${opts.logLevel ?? "debug"}

[verification "http"]
type = http01
listener = 127.0.0.1:${opts.httpPort}

[storage "none"]
type = none

${opts.auth ?? '[auth "local"]\nip = 127.0.0.1\ndomain = *.example.test\n'}`;
}

/** Stops things in reverse order of registration; every stop runs even if an earlier one throws. */
export class Cleanup {
  readonly #steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Milliseconds since `started`, for timing lines in test output. */
export function since(started: number): number {
  return Date.now() - started;
}

/** A TCP forwarder that holds every new connection for `delayMs` before connecting it to the target. */
export interface DelayProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Closes the listener and every connection; waits until all of them are done. */
  stop(): Promise<void>;
}

/**
 * Starts a TCP forwarder on 127.0.0.1:`port` to 127.0.0.1:`targetPort` that waits `delayMs` before connecting each
 * accepted connection: put it where pebble's VA connects, and every http-01 validation takes that long.
 * (A byte-level forwarder keeps the Host header exactly as pebble sent it.)
 */
export function startDelayProxy(opts: { port: number; targetPort: number; delayMs: number }): DelayProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: opts.port });
  const abort = new AbortController();
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let accepted = 0;
  const closeQuietly = (conn: Deno.Conn) => {
    conns.delete(conn);
    try {
      conn.close();
    } catch {
      // Already closed (pipeTo closes what it finished).
    }
  };
  const handle = async (conn: Deno.Conn) => {
    let upstream: Deno.Conn | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, opts.delayMs);
        abort.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(new Error("stopped"));
        }, { once: true });
      });
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: opts.targetPort });
      conns.add(upstream);
      const up = upstream;
      await Promise.all([
        conn.readable.pipeTo(up.writable, { preventClose: true }).catch(() => {}),
        up.readable.pipeTo(conn.writable, { preventClose: true }).catch(() => {}),
      ]);
    } catch {
      // Stopped, or the target refused: the client sees its connection closed.
    } finally {
      if (upstream) closeQuietly(upstream);
      closeQuietly(conn);
    }
  };
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        conns.add(conn);
        const task = handle(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // The listener was closed.
    }
  })();
  let stopped: Promise<void> | undefined;
  return {
    port: opts.port,
    get accepted() {
      return accepted;
    },
    stop: () =>
      stopped ??= (async () => {
        abort.abort();
        try {
          listener.close();
        } catch {
          // Already closed.
        }
        for (const conn of [...conns]) closeQuietly(conn);
        await loop;
        await Promise.allSettled([...tasks]);
      })(),
  };
}
