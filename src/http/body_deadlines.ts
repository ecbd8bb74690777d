/**
 * Deadlines for request bodies being read, checked by one shared timer instead of a timer per request.
 *
 * Contract: `watch(ms, onExpired)` registers a read and returns its release; `onExpired` is called once, between
 * `ms` and `ms + tickMs` later, unless released before. One interval timer runs while reads are watched and stops
 * itself after two ticks without any; `close` stops it at once (the server owns one of these and closes it). Under
 * load that is one link and one unlink per request, where a `setTimeout`/`clearTimeout` pair cost several
 * microseconds of the /sign cache-hit path (measured: bench/README.md).
 *
 * The reads are a doubly linked list, not a Set: a long-lived Set that gains and loses an entry per request rebuilds
 * its hash table every few requests, and V8 allocates the rebuilt table in the old generation, where only a full
 * GC frees it (bench/probes/heap_sample.ts: about 120 bytes of old-generation garbage per cache hit).
 */

interface Watched {
  deadline: number;
  onExpired: () => void;
  previous: Watched | null;
  next: Watched | null;
  /** Still in the list (neither released nor expired). */
  linked: boolean;
}

export class BodyDeadlines {
  #first: Watched | null = null;
  #last: Watched | null = null;
  #size = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #idleTicks = 0;

  constructor(readonly tickMs = 100, readonly now: () => number = () => performance.now()) {}

  /** Watches one read; the returned function releases it (call it when the read ends, whichever way). */
  watch(timeoutMs: number, onExpired: () => void): () => void {
    const read: Watched = {
      deadline: this.now() + timeoutMs,
      onExpired,
      previous: this.#last,
      next: null,
      linked: true,
    };
    if (this.#last === null) this.#first = read;
    else this.#last.next = read;
    this.#last = read;
    this.#size++;
    this.#idleTicks = 0;
    this.#timer ??= setInterval(() => this.#tick(), this.tickMs);
    return () => this.#unlink(read);
  }

  #unlink(read: Watched): void {
    if (!read.linked) return;
    read.linked = false;
    if (read.previous === null) this.#first = read.next;
    else read.previous.next = read.next;
    if (read.next === null) this.#last = read.previous;
    else read.next.previous = read.previous;
    read.previous = read.next = null;
    this.#size--;
  }

  /** Stops the timer; reads still watched are no longer timed. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    while (this.#first !== null) this.#unlink(this.#first);
  }

  /** Reads being watched (tests). */
  get size(): number {
    return this.#size;
  }

  /** Whether the shared timer is running (tests). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  #tick(): void {
    if (this.#size === 0) {
      if (++this.#idleTicks >= 2) this.close();
      return;
    }
    this.#idleTicks = 0;
    const now = this.now();
    // Collected first: a callback may release other reads, which unlinks them.
    let due: Watched[] | undefined;
    for (let read = this.#first; read !== null; read = read.next) if (read.deadline <= now) (due ??= []).push(read);
    if (due === undefined) return;
    for (const read of due) {
      if (!read.linked) continue;
      this.#unlink(read);
      try {
        read.onExpired();
      } catch {
        // A failed cancel must not stop the other deadlines.
      }
    }
  }
}
