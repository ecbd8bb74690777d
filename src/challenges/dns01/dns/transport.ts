/**
 * One DNS exchange with one server: TCP (RFC 7766 two-byte length framing) through `Deno.connect`, or UDP through
 * `node:dgram` (Deno's own datagram API still needs --unstable-net). Every exchange is bounded by `timeoutMs`, and
 * every socket is closed before the promise settles.
 */
import type dgram from "node:dgram";
import type { Buffer } from "node:buffer";

/** node:dgram and node:buffer, loaded at the first UDP exchange (Node compatibility costs start-up time). */
let udp: Promise<{ dgram: typeof dgram; Buffer: typeof Buffer }> | undefined;
function loadUdp(): Promise<{ dgram: typeof dgram; Buffer: typeof Buffer }> {
  udp ??= Promise.all([import("node:dgram"), import("node:buffer")]).then(([d, b]) => ({
    dgram: d.default,
    Buffer: b.Buffer,
  }));
  return udp;
}
import type { DnsServerAddress } from "../../../config/types.ts";

/** The server could not be reached or did not answer in time: worth trying another server, or later. */
export class DnsTransportError extends Error {
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
    this.name = "DnsTransportError";
  }
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.ConnectionAborted) return "connection aborted";
  if (error instanceof Deno.errors.NetworkUnreachable) return "network unreachable";
  if (error instanceof Deno.errors.AddrNotAvailable) return "address not available";
  const code = (error as { code?: string })?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  return error instanceof Error ? error.message : String(error);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Sends `message` over TCP and returns the one response message. */
export async function exchangeTcp(
  server: DnsServerAddress,
  message: Uint8Array,
  timeoutMs: number,
): Promise<Uint8Array> {
  const abort = new AbortController();
  let timedOut = false;
  let conn: Deno.TcpConn | undefined;
  let closed = false;
  const close = () => {
    if (closed || !conn) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  // The signal only cuts the connect short; closing the connection is what ends a pending read.
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
    close();
  }, timeoutMs);
  try {
    conn = await Deno.connect({ hostname: server.hostname, port: server.port, signal: abort.signal });
    const framed = new Uint8Array(message.length + 2);
    framed[0] = message.length >> 8;
    framed[1] = message.length & 0xff;
    framed.set(message, 2);
    let written = 0;
    while (written < framed.length) written += await conn.write(framed.subarray(written));
    const length = await readExactly(conn, 2);
    return await readExactly(conn, (length[0] << 8) | length[1]);
  } catch (error) {
    if (timedOut) {
      throw new DnsTransportError(`${server.display} did not answer within ${seconds(timeoutMs)} (TCP)`, true);
    }
    throw new DnsTransportError(`${server.display}: ${describe(error)} (TCP)`, false);
  } finally {
    clearTimeout(timer);
    close();
  }
}

async function readExactly(conn: Deno.TcpConn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await conn.read(out.subarray(got));
    if (read === null) throw new Error("the server closed the connection before answering");
    got += read;
  }
  return out;
}

/**
 * Sends `message` over UDP and returns the first datagram from that server with the same ID (others are ignored:
 * a stray or forged answer must not end the exchange).
 */
export async function exchangeUdp(
  server: DnsServerAddress,
  message: Uint8Array,
  timeoutMs: number,
): Promise<Uint8Array> {
  const id = (message[0] << 8) | message[1];
  const { dgram, Buffer } = await loadUdp();
  return await new Promise((resolve, reject) => {
    const socket = dgram.createSocket(server.hostname.includes(":") ? "udp6" : "udp4");
    let settled = false;
    const finish = (error: Error | null, response?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners("message");
      socket.close(() => (error ? reject(error) : resolve(response!)));
    };
    const timer = setTimeout(
      () => finish(new DnsTransportError(`${server.display} did not answer within ${seconds(timeoutMs)} (UDP)`, true)),
      timeoutMs,
    );
    socket.on("error", (error) => finish(new DnsTransportError(`${server.display}: ${describe(error)} (UDP)`, false)));
    socket.on("message", (data: Buffer, from: dgram.RemoteInfo) => {
      if (from.port !== server.port || from.address !== server.hostname) return;
      if (data.length < 12 || ((data[0] << 8) | data[1]) !== id) return;
      finish(null, new Uint8Array(data));
    });
    socket.send(Buffer.from(message), server.port, server.hostname, (error) => {
      if (error) finish(new DnsTransportError(`${server.display}: ${describe(error)} (UDP)`, false));
    });
  });
}
