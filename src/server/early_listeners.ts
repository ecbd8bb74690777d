/**
 * The listeners `acmems serve` binds as soon as the config is valid, before it loads the server's code, opens the
 * log, loads the account key and builds the App: the ports accept connections from the start, and `App.start()`
 * takes them over (`attach`) instead of binding its own. A request that arrives before then waits for the App's
 * handler; one still waiting when the start fails is answered 503.
 *
 * Contract: `EarlyListeners.bind` binds every address of the config (mgmt with its TLS files) and creates nothing on
 * disk; if one cannot be bound it closes the others and throws `listenError` (naming the address, its role and its
 * config line). After `attach` the App owns the servers (its shutdown closes them) and `close` does nothing; before,
 * `close` stops them.
 */
import type { Config, ListenAddress } from "../config/types.ts";
import { bind, configAddresses, listenError, readTls, type RunningListener, type ServeHandler } from "./listeners.ts";
import type { TlsFiles } from "./listeners.ts";

/** What App.start() needs to serve an early listener. */
export interface EarlyListener extends RunningListener {
  /** The http01 verification's name (http01 listeners only). */
  verification?: string;
}

export class EarlyListeners {
  readonly listeners: EarlyListener[] = [];
  /** The mgmt TLS files the mgmt listeners were bound with (undefined without TLS). */
  readonly tls: TlsFiles | undefined;
  readonly #targets = new Map<EarlyListener, (handler: ServeHandler) => void>();
  #owned = true;

  private constructor(tls: TlsFiles | undefined) {
    this.tls = tls;
  }

  /** Binds every listener of `config` (see the contract). */
  static async bind(config: Config): Promise<EarlyListeners> {
    const early = new EarlyListeners(await readTls(config));
    const names = new Map<ListenAddress, string>();
    for (const v of config.verifications.values()) {
      if (v.type === "http01") { for (const address of v.listeners) names.set(address, v.name); }
    }
    try {
      for (const { role, address } of configAddresses(config)) early.#bind(role, address, names.get(address));
    } catch (error) {
      await early.close();
      throw error;
    }
    return early;
  }

  #bind(role: string, address: ListenAddress, verification: string | undefined): void {
    let target: ServeHandler | undefined;
    let resolve!: (handler: ServeHandler) => void;
    const ready = new Promise<ServeHandler>((r) => resolve = r);
    const handler: ServeHandler = (request, info) =>
      target ? target(request, info) : ready.then((h) => (target ?? h)(request, info));
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = bind(address.hostname, address.port, handler, role === "mgmt" ? this.tls : undefined);
    } catch (error) {
      throw listenError(role, address, error);
    }
    const listener: EarlyListener = { role, address, port: server.addr.port, server, verification };
    this.listeners.push(listener);
    this.#targets.set(listener, (h) => {
      target = h;
      resolve(h);
    });
  }

  /** Hands the listeners to the App: `handlerOf` gives each one's handler; the App closes them from now on. */
  attach(handlerOf: (listener: EarlyListener) => ServeHandler): RunningListener[] {
    this.#owned = false;
    for (const listener of this.listeners) this.#targets.get(listener)!(handlerOf(listener));
    return this.listeners;
  }

  /** Stops the listeners unless the App took them; requests still waiting are answered 503. */
  async close(): Promise<void> {
    if (!this.#owned) return;
    this.#owned = false;
    const unavailable = () => new Response("acmems is not running (its start failed)\n", { status: 503 });
    for (const listener of this.listeners) this.#targets.get(listener)!(unavailable);
    await Promise.all(this.listeners.map((l) => l.server.shutdown().catch(() => {})));
  }
}
