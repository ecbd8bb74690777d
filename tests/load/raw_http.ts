/**
 * HTTP/1.1 over a raw TCP socket, for what fetch cannot do: hold a connection idle, send a partial header, send a
 * body slower than the server allows. Every socket is closed and every read awaited (the tests run with the op and
 * resource sanitizers).
 */

/** A raw connection whose answer (status line and headers) is read in the background. */
export interface RawExchange {
  conn: Deno.TcpConn;
  /** When the request (or its first part) was sent (performance.now()). */
  sentAt: number;
  /** The answer's status and headers, or null if the server closed the socket without one. */
  answer: Promise<RawAnswer | null>;
  /** Closes the socket (idempotent) and waits for the background read to end. */
  close(): Promise<void>;
}

export interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  /** Milliseconds from `sentAt` to the end of the header block. */
  ms: number;
}

/** Connects, writes `data` (possibly an incomplete request), and starts reading the answer's header block. */
export async function rawSend(port: number, data: string): Promise<RawExchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const sentAt = performance.now();
  if (data) await writeAll(conn, new TextEncoder().encode(data));
  let closed = false;
  const answer = (async (): Promise<RawAnswer | null> => {
    let text = "";
    const buf = new Uint8Array(4096);
    try {
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return null;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch {
      return null; // closed by us or reset
    }
    const ms = performance.now() - sentAt;
    const [statusLine, ...lines] = text.slice(0, text.indexOf("\r\n\r\n")).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers, ms };
  })();
  return {
    conn,
    sentAt,
    answer,
    close: async () => {
      if (!closed) {
        closed = true;
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await answer;
    },
  };
}

/** Writes more bytes on an open exchange (e.g. the rest of a slow body). */
export async function rawWrite(exchange: RawExchange, data: string): Promise<void> {
  await writeAll(exchange.conn, new TextEncoder().encode(data));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Resolves with `promise`'s value, or `fallback` after `ms` (the timer is always cleared). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
