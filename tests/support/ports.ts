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

/** Ports this module already handed out (oldest first), never handed out again while remembered. */
const handedOut = new Set<number>();
const REMEMBERED = 5_000;

/**
 * Returns `count` distinct free TCP ports, none of which this module returned before (a test that picks a port and
 * then starts a peer which picks its own must not have the kernel hand the peer the port it just released). All
 * listeners stay open until every port is known, so the kernel cannot hand out the same port twice within one call.
 */
export function freePorts(count: number, hostname = "127.0.0.1"): Promise<number[]> {
  const listeners: Deno.TcpListener[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      if (listeners.length >= count + 200) {
        throw new Error(`No free port on ${hostname} that was not handed out before`);
      }
      const listener = Deno.listen({ hostname, port: 0, transport: "tcp" });
      listeners.push(listener);
      if (!handedOut.has(listener.addr.port)) ports.push(listener.addr.port);
    }
  } finally {
    for (const l of listeners) l.close();
  }
  for (const port of ports) handedOut.add(port);
  for (const port of handedOut) {
    if (handedOut.size <= REMEMBERED) break;
    handedOut.delete(port);
  }
  return Promise.resolve(ports);
}

/** True when an error message or log text says a bind failed because the port is taken. */
export function isAddressInUse(text: string): boolean {
  return /address (already )?in use/i.test(text);
}
