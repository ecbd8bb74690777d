/**
 * `type = none`: a null cache. Nothing is kept, so every request is a miss and there is nothing to renew.
 *
 * Contract (the `Storage` port with every operation trivially true):
 * - `get`/`peek` → null; `keys` → []; `touch` does nothing; `remove` does nothing.
 * - `claim` is always granted (a fresh fence each time, no deadline): the issuance service's in-process
 *   single-flight map is what keeps one order per CSR; `waitForRelease` returns at once (nobody holds anything).
 * - `put` discards the entry and returns true; `noteOrder` and `extend` return true; `release` does nothing.
 * - Challenges live in memory (this process answers its own http-01 challenges); `changes` never reports anything.
 * A result that outlived its requester's sign-timeout is kept in the issuance service's memory for the retry
 * (src/issuance/results.ts), not here.
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
  /** Kept for the `Storage` interface; nothing reads it. */
  #fence = 0;
  readonly #challenges = new Map<string, StoredChallenge>();
  /** Compromised keys live as long as the process (nothing is stored). */
  readonly #compromised = new Set<string>();

  constructor(readonly name: string) {}

  get(_key: CacheKey): Promise<Entry | null> {
    return Promise.resolve(null);
  }

  peek(_key: CacheKey): Promise<Entry | null> {
    return Promise.resolve(null);
  }

  claim(key: CacheKey, _owner?: string, _leaseMs?: number): Promise<Claim | Held> {
    return Promise.resolve({ key, fence: ++this.#fence, deadline: Infinity });
  }

  waitForRelease(_key?: CacheKey, _signal?: AbortSignal): Promise<void> {
    return Promise.resolve();
  }

  extend(_claim?: Claim, _leaseMs?: number): Promise<boolean> {
    return Promise.resolve(true);
  }

  noteOrder(_claim?: Claim, _orderUrl?: string | null): Promise<boolean> {
    return Promise.resolve(true);
  }

  put(_claim?: Claim, _entry?: Entry): Promise<boolean> {
    return Promise.resolve(true);
  }

  release(_claim?: Claim): Promise<void> {
    return Promise.resolve();
  }

  keys(): Promise<CacheKey[]> {
    return Promise.resolve([]);
  }

  touch(): Promise<void> {
    return Promise.resolve();
  }

  remove(_claim?: Claim): Promise<void> {
    return Promise.resolve();
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

  compromisedKeys(): Promise<string[]> {
    return Promise.resolve([...this.#compromised]);
  }

  recordCompromisedKey(spkiSha256: string, _at?: Date): Promise<void> {
    this.#compromised.add(spkiSha256);
    return Promise.resolve();
  }

  changes(signal: AbortSignal): AsyncIterable<Change> {
    // Nothing is shared, so nothing ever changes elsewhere: end when asked to.
    return idleChanges(signal);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
