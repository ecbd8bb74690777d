/**
 * Free loopback ports for test peers.
 *
 * A port found here is only "free right now": another process may take it before the peer binds it. The peer
 * fixtures therefore retry with new ports when a peer reports "address in use" (see `isAddressInUse`).
 */

/** Binds `hostname:0`, closes the listener and returns the port the kernel picked. */
export async function freePort(hostname = "127.0.0.1"): Promise<number> {
  const [port] = await freePorts(1, hostname);
  return port;
}

/**
 * Returns `count` distinct free TCP ports. All listeners stay open until every port is known, so the kernel cannot
 * hand out the same port twice within one call.
 */
export function freePorts(count: number, hostname = "127.0.0.1"): Promise<number[]> {
  const listeners: Deno.TcpListener[] = [];
  try {
    for (let i = 0; i < count; i++) listeners.push(Deno.listen({ hostname, port: 0, transport: "tcp" }));
    return Promise.resolve(listeners.map((l) => l.addr.port));
  } finally {
    for (const l of listeners) l.close();
  }
}

/** True when an error message or log text says a bind failed because the port is taken. */
export function isAddressInUse(text: string): boolean {
  return /address (already )?in use/i.test(text);
}
