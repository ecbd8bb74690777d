/**
 * The /sign in-flight slots: at most `[mgmt] max-inflight` requests in progress, and at most
 * `[mgmt] max-inflight-per-client` of them for one client address (the address `ip =` rules see), so that one
 * address cannot hold every slot.
 *
 * Contract: `take` either takes a slot (global and the client's) and returns its release function, or takes nothing
 * and says which cap is full; each release gives back exactly what its `take` took, once. The caps are read on each
 * call, so a reload changes them for the next request; slots already taken stay taken until released. Synchronous,
 * no I/O; the per-client table holds only clients with a slot (at most `max-inflight` entries).
 */

/** A slot (call `release` once the request is answered), or the cap that is full. */
export type SlotResult = { ok: true; release: () => void } | { ok: false; cap: "global" | "client" };

export class InflightSlots {
  #total = 0;
  readonly #byClient = new Map<string, number>();

  /** Requests in progress (all clients). */
  get total(): number {
    return this.#total;
  }

  /** Requests in progress for `client`. */
  of(client: string): number {
    return this.#byClient.get(client) ?? 0;
  }

  take(client: string, maxInflight: number, maxPerClient: number): SlotResult {
    if (this.#total >= maxInflight) return { ok: false, cap: "global" };
    const held = this.of(client);
    if (held >= maxPerClient) return { ok: false, cap: "client" };
    this.#total++;
    this.#byClient.set(client, held + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const left = this.of(client) - 1;
        if (left > 0) this.#byClient.set(client, left);
        else this.#byClient.delete(client);
      },
    };
  }
}
