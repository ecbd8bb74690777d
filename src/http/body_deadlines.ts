/**
 * Deadlines for request bodies being read, checked by one shared timer instead of a timer per request.
 *
 * Contract: `watch(ms, onExpired)` registers a read and returns its release; `onExpired` is called once, between
 * `ms` and `ms + tickMs` later, unless released before. One interval timer runs while reads are watched and stops
 * itself after two ticks without any; `close` stops it at once (the server owns one of these and closes it). Under load that is one Set
 * insertion and deletion per request, where a `setTimeout`/`clearTimeout` pair cost several microseconds of the
 * /sign cache-hit path (measured: bench/README.md).
 */

interface Watched {
  deadline: number;
  onExpired: () => void;
}

export class BodyDeadlines {
  readonly #reads = new Set<Watched>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #idleTicks = 0;

  constructor(readonly tickMs = 100, readonly now: () => number = () => performance.now()) {}

  /** Watches one read; the returned function releases it (call it when the read ends, whichever way). */
  watch(timeoutMs: number, onExpired: () => void): () => void {
    const read: Watched = { deadline: this.now() + timeoutMs, onExpired };
    this.#reads.add(read);
    this.#idleTicks = 0;
    this.#timer ??= setInterval(() => this.#tick(), this.tickMs);
    return () => void this.#reads.delete(read);
  }

  /** Stops the timer; reads still watched are no longer timed. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#reads.clear();
  }

  /** Reads being watched (tests). */
  get size(): number {
    return this.#reads.size;
  }

  /** Whether the shared timer is running (tests). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  #tick(): void {
    if (this.#reads.size === 0) {
      if (++this.#idleTicks >= 2) this.close();
      return;
    }
    this.#idleTicks = 0;
    const now = this.now();
    for (const read of this.#reads) {
      if (read.deadline > now) continue;
      this.#reads.delete(read);
      try {
        read.onExpired();
      } catch {
        // A failed cancel must not stop the other deadlines.
      }
    }
  }
}
