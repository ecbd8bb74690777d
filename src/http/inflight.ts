/**
 * The /sign in-flight slots: at most `[mgmt] max-inflight` requests in progress, and at most
 * `[mgmt] max-inflight-per-client` of them for one client address (the address `ip =` rules see), so that one
 * address cannot hold every slot.
 *
 * Contract: `take` either takes a slot (global and the client's) and returns its release function, or takes nothing
 * and says which cap is full; each release gives back exactly what its `take` took, once. The caps are read on each
 * call, so a reload changes them for the next request; slots already taken stay taken until released. Synchronous,
 * no I/O; the per-client table holds the clients with a slot (at most `max-inflight`) and at most `KEEP_IDLE_CLIENTS`
 * more whose count went back to 0.
 */

/**
 * Clients kept at a count of 0 after their last release. A busy client's count goes 1 → 0 → 1 all the time; deleting
 * and adding its entry each time makes V8 rebuild the Map's table every few requests, in the old generation, where
 * only a full GC frees it (bench/probes/heap_sample.ts: about 150 bytes of such garbage per /sign cache hit).
 */
const KEEP_IDLE_CLIENTS = 64;

/** A slot (call `release` once the request is answered), or the cap that is full. */
export type SlotResult = { ok: true; release: () => void } | { ok: false; cap: "global" | "client" };

export class InflightSlots {
  #total = 0;
  readonly #byClient = new Map<string, number>();
  /** Entries of #byClient at 0. */
  #idle = 0;

  /** Requests in progress (all clients). */
  get total(): number {
    return this.#total;
  }

  /** Clients in the table (tests): those with a slot, and up to KEEP_IDLE_CLIENTS without. */
  get clients(): number {
    return this.#byClient.size;
  }

  /** Requests in progress for `client`. */
  of(client: string): number {
    return this.#byClient.get(client) ?? 0;
  }

  take(client: string, maxInflight: number, maxPerClient: number): SlotResult {
    if (this.#total >= maxInflight) return { ok: false, cap: "global" };
    const entry = this.#byClient.get(client);
    const held = entry ?? 0;
    if (held >= maxPerClient) return { ok: false, cap: "client" };
    this.#total++;
    if (entry === 0) this.#idle--;
    this.#byClient.set(client, held + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = this.of(client) - 1;
        if (left > 0) {
          this.#byClient.set(client, left);
        } else if (this.#idle < KEEP_IDLE_CLIENTS) {
          this.#byClient.set(client, 0);
          this.#idle++;
        } else {
          this.#byClient.delete(client);
        }
      },
    };
  }
}
