/**
 * A Map of the most recently noted entries, oldest first, bounded.
 *
 * Contract: `note(key, value, limit)` makes `key` the newest entry (its old place, if any, is given up) and then drops
 * the oldest entries past `limit`. Noting the key noted last again replaces its value where it is, since it is the
 * newest already: a /sign hit notes the same key on every hit, and that skips the delete and reinsert. Read it with
 * the Map API; write it only through `note` (a plain `set` would not move its key to the newest place).
 */
export class RecentMap<K, V> extends Map<K, V> {
  /** The key noted last (an undefined key never takes the in-place path). */
  #last: K | undefined;

  note(key: K, value: V, limit: number): void {
    if (key !== undefined && key === this.#last && this.has(key)) {
      this.set(key, value);
      return;
    }
    this.#last = key;
    this.delete(key);
    this.set(key, value);
    while (this.size > limit) this.delete(this.keys().next().value!);
  }
}
