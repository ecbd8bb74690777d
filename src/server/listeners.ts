/**
 * The sockets of a running server: binding an address (plain or TLS) with an error that names the address and its
 * config line, reading and checking the mgmt TLS files, and rebinding a mgmt listener on the same port when its
 * certificate changes.
 *
 * Contract: `ListenerSet.listen` throws `listenError` (nothing is left bound for that address). `rebind` never waits
 * for the old server's in-flight requests: the old server stops accepting, the new one takes the port within a few
 * milliseconds, and the old one finishes in the background (`retired` holds that work for the shutdown). If the port
 * cannot be taken back within 2 s the listener is dropped from the set and the error is thrown.
 */
import type { Config, ListenAddress } from "../config/types.ts";

export interface RunningListener {
  role: string;
  address: ListenAddress;
  /** The bound port (differs from the configured one only for port 0 in tests). */
  port: number;
  /** Replaced when a TLS reload rebinds the listener. */
  server: Deno.HttpServer<Deno.NetAddr>;
}

/** PEM certificate chain and key of the mgmt listeners. */
export interface TlsFiles {
  cert: string;
  key: string;
}

export type ServeHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/**
 * Checks that a certificate and key work for a TLS listener, by opening one on a loopback port and closing it at
 * once (the same parser Deno.serve uses: a mismatched pair is caught too). Throws naming both files; skips the
 * check when no loopback port can be opened (nothing to learn then).
 */
export const checkTlsFiles =
  (function checkTlsFiles(tls: TlsFiles, files: { certFile: string; keyFile: string }): void {
    let listener: Deno.TlsListener;
    try {
      listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
    } catch (error) {
      if (error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied) return;
      throw new Error(
        `The mgmt TLS files tls-cert ${files.certFile} and tls-key ${files.keyFile} are not a usable certificate and ` +
          `key (${error instanceof Error ? error.message : error}): fix them and reload again`,
      );
    }
    listener.close();
  }).bind(null);

/** The mgmt TLS files of a config, read; undefined without TLS. Throws naming both files when one cannot be read. */
export const readTls = (async function readTls(config: Config): Promise<TlsFiles | undefined> {
  if (!config.mgmt.tlsCert || !config.mgmt.tlsKey) return undefined;
  try {
    return { cert: await Deno.readTextFile(config.mgmt.tlsCert), key: await Deno.readTextFile(config.mgmt.tlsKey) };
  } catch (error) {
    throw new Error(
      `Cannot read the mgmt TLS files ${config.mgmt.tlsCert} / ${config.mgmt.tlsKey}: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}).bind(null);

/** Deno.serve on one address, plain or with TLS; throws Deno's error. */
export const bind = (function bind(
  hostname: string,
  port: number,
  handler: ServeHandler,
  tls?: TlsFiles,
): Deno.HttpServer<Deno.NetAddr> {
  const options = { hostname, port, onListen: () => {} };
  return tls ? Deno.serve({ ...options, cert: tls.cert, key: tls.key }, handler) : Deno.serve(options, handler);
}).bind(null);

/** A bind failure as the operator should read it: the address, the config line and the likely cause. */
export const listenError = (function listenError(role: string, address: ListenAddress, error: unknown): Error {
  const reason = error instanceof Deno.errors.AddrInUse
    ? "the address is already in use (another acmems or service?)"
    : error instanceof Deno.errors.AddrNotAvailable
    ? "this machine has no such address"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need privileges)"
    : error instanceof Error
    ? error.message
    : String(error);
  const where = address.source.line > 0 ? ` (${address.source.file}:${address.source.line})` : "";
  return new Error(`Cannot listen on ${address.display} for ${role}${where}: ${reason}`);
}).bind(null);

/** Every address a config listens on, with the role its errors name (http01 "name", mgmt, metrics). */
export const configAddresses = (function configAddresses(config: Config): { role: string; address: ListenAddress }[] {
  const all: { role: string; address: ListenAddress }[] = [];
  for (const verification of config.verifications.values()) {
    if (verification.type !== "http01") continue;
    for (const address of verification.listeners) all.push({ role: `http01 "${verification.name}"`, address });
  }
  for (const address of config.mgmt.listeners) all.push({ role: "mgmt", address });
  for (const address of config.mgmt.metricsListeners) all.push({ role: "metrics", address });
  return all;
}).bind(null);

/** The listeners of one App, and the old servers still finishing their requests after a rebind. */
export class ListenerSet {
  readonly all: RunningListener[] = [];
  /** Background work the shutdown waits for (old servers finishing, old generations retiring). */
  readonly retired: Promise<unknown>[] = [];

  /** Binds one address (throws `listenError`). */
  listen(role: string, address: ListenAddress, handler: ServeHandler, tls?: TlsFiles): RunningListener {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = bind(address.hostname, address.port, handler, tls);
    } catch (error) {
      throw listenError(role, address, error);
    }
    const listener = { role, address, port: server.addr.port, server };
    this.all.push(listener);
    return listener;
  }

  /**
   * Serves a listener with new TLS files on the same address and port. The port stays taken until the old
   * listener closes (SO_REUSEPORT would allow both at once, but with TLS it is an unstable Deno API that exits the
   * process without --unstable-net), so: stop the old server accepting without waiting for its in-flight requests,
   * bind the new one as soon as the port is free (within a few milliseconds), and let the old one finish its
   * requests in the background.
   */
  async rebind(listener: RunningListener, handler: ServeHandler, tls: TlsFiles): Promise<void> {
    const old = listener.server;
    this.retired.push(old.shutdown().catch(() => {}));
    const deadline = Date.now() + 2_000;
    while (true) {
      try {
        listener.server = bind(listener.address.hostname, listener.port, handler, tls);
        return;
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) {
          this.all.splice(this.all.indexOf(listener), 1);
          throw listenError(listener.role, listener.address, error);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }
}
