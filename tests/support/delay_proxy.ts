/**
 * A TCP forwarder that holds every new connection for a while before connecting it to its target: put it where
 * pebble's VA connects, and every http-01 validation takes that long (a slow CA, a drain during an order). Stopping
 * it closes every connection and awaits every task.
 */

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
