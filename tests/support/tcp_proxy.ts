/**
 * A loopback TCP proxy whose traffic a test can stop without closing anything: `blackhole()` holds every byte (in
 * both directions, on every connection, including new ones) until `heal()` delivers them, the way a network
 * partition looks to both ends (no RST, no FIN: the peers just wait). Used between one acmems instance and
 * PostgreSQL in tests/integration/ha_test.ts.
 */
export class TcpProxy {
  readonly #listener: Deno.TcpListener;
  readonly #target: { hostname: string; port: number };
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  #gate: { promise: Promise<void>; open: () => void } | undefined;
  #closed = false;
  /** Connections accepted so far. */
  accepted = 0;

  constructor(targetPort: number, targetHost = "127.0.0.1") {
    this.#target = { hostname: targetHost, port: targetPort };
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#track(this.#accept());
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  get blackholed(): boolean {
    return this.#gate !== undefined;
  }

  /** From now on, bytes are held (not dropped) until `heal()`. */
  blackhole(): void {
    if (this.#gate) return;
    let open = () => {};
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.#gate = { promise, open };
  }

  /** Delivers what was held and lets traffic flow again. */
  heal(): void {
    const gate = this.#gate;
    this.#gate = undefined;
    gate?.open();
  }

  /** Stops listening, closes every connection and waits for the pumps to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.heal();
    this.#listener.close();
    for (const conn of this.#conns) close(conn);
    this.#conns.clear();
    await Promise.allSettled([...this.#tasks]);
  }

  #track(task: Promise<void>): void {
    const tracked = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  async #accept(): Promise<void> {
    for await (const client of this.#listener) {
      if (this.#closed) {
        close(client);
        break;
      }
      this.accepted++;
      this.#conns.add(client);
      this.#track(this.#connect(client));
    }
  }

  async #connect(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(this.#target);
    } catch {
      this.#conns.delete(client);
      close(client);
      return;
    }
    if (this.#closed) {
      close(client);
      close(upstream);
      return;
    }
    this.#conns.add(upstream);
    const end = () => {
      for (const c of [client, upstream]) {
        this.#conns.delete(c);
        close(c);
      }
    };
    await Promise.all([
      this.#pump(client, upstream).finally(end),
      this.#pump(upstream, client).finally(end),
    ]);
  }

  async #pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      let n: number | null;
      try {
        n = await from.read(buffer);
      } catch {
        return;
      }
      if (n === null) return;
      // Blackholed: hold this chunk (and, by not reading further, everything behind it) until healed.
      while (this.#gate) await this.#gate.promise;
      let written = 0;
      try {
        while (written < n) written += await to.write(buffer.subarray(written, n));
      } catch {
        return;
      }
    }
  }
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
