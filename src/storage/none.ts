/**
 * `type = none`: caches nothing, so every request is a miss. Claims are in-process only (the issuer's single-flight
 * map already keeps one order per CSR in this process); challenges live in memory.
 */
import {
  type CacheKey,
  type Change,
  type Claim,
  type Entry,
  type Held,
  idleChanges,
  type Storage,
  type StoredChallenge,
} from "./mod.ts";

export class NoneStorage implements Storage {
  readonly kind = "none";
  readonly renewWithinDays = 0;
  readonly renewActiveDays = 0;
  readonly ephemeral = true;
  readonly #fences = new Map<CacheKey, number>();
  readonly #held = new Set<CacheKey>();
  readonly #challenges = new Map<string, StoredChallenge>();

  constructor(readonly name: string) {}

  get(_key: CacheKey): Promise<Entry | null> {
    return Promise.resolve(null);
  }

  claim(key: CacheKey, owner: string, _leaseMs?: number): Promise<Claim | Held> {
    if (this.#held.has(key)) return Promise.resolve({ held: true, heldBy: owner });
    const fence = (this.#fences.get(key) ?? 0) + 1;
    this.#fences.set(key, fence);
    this.#held.add(key);
    return Promise.resolve({ key, fence, deadline: Infinity });
  }

  async waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void> {
    while (this.#held.has(key) && !signal.aborted) await new Promise((r) => setTimeout(r, 50));
  }

  extend(claim: Claim, _leaseMs?: number): Promise<boolean> {
    return Promise.resolve(this.#valid(claim));
  }

  noteOrder(claim: Claim, _orderUrl?: string | null): Promise<boolean> {
    return Promise.resolve(this.#valid(claim));
  }

  put(claim: Claim, _entry?: Entry): Promise<boolean> {
    return Promise.resolve(this.#valid(claim));
  }

  release(claim: Claim): Promise<void> {
    if (this.#valid(claim)) this.#held.delete(claim.key);
    return Promise.resolve();
  }

  keys(): Promise<CacheKey[]> {
    return Promise.resolve([]);
  }

  touch(): Promise<void> {
    return Promise.resolve();
  }

  remove(claim: Claim): Promise<void> {
    return this.release(claim);
  }

  putChallenge(challenge: StoredChallenge): Promise<void> {
    this.#challenges.set(challenge.token, challenge);
    return Promise.resolve();
  }

  getChallenge(token: string): Promise<StoredChallenge | null> {
    return Promise.resolve(this.#challenges.get(token) ?? null);
  }

  deleteChallenge(token: string): Promise<void> {
    this.#challenges.delete(token);
    return Promise.resolve();
  }

  changes(signal: AbortSignal): AsyncIterable<Change> {
    // Nothing is shared, so nothing ever changes elsewhere: end when asked to.
    return idleChanges(signal);
  }

  close(): Promise<void> {
    this.#held.clear();
    return Promise.resolve();
  }

  #valid(claim: Claim): boolean {
    return this.#held.has(claim.key) && this.#fences.get(claim.key) === claim.fence;
  }
}
