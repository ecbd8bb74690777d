/**
 * When a `file` storage cache hit may trust the last `stat` of its entry's file instead of taking a new one
 * (src/storage/file.ts `peekNow`).
 *
 * Contract: `mayReuse(checkedAt)` counts one hit and is true only under load (more than `STAT_REUSE_BUSY_PEEKS` hits
 * within about `STAT_REUSE_MS`) for a stat younger than `STAT_REUSE_MS`. So under load a change by another process
 * (`acmems revoke`, another instance on the same directory) is seen by every hit that comes this long after it, and
 * at 10,000 hits a second about nine stats in ten are saved; one request at a time (a host, or a test that changes
 * an entry and asks again) gets a fresh stat each time. The clock is injected (tests).
 */

/** How long one stat stands under load. */
export const STAT_REUSE_MS = 1;
/** "Under load": more hits than this within about STAT_REUSE_MS; no client waiting for each answer comes near it. */
export const STAT_REUSE_BUSY_PEEKS = 8;

export class StatReuse {
  /** Hits in the current window (from `#start`) and in the one before it. */
  #start = -Infinity;
  #count = 0;
  #previous = 0;

  /** Monotonic milliseconds (default `performance.now`). */
  constructor(readonly now: () => number = () => performance.now()) {}

  /** Counts one hit at `now`; true when the stat taken at `checkedAt` may stand for it. */
  mayReuse(checkedAt: number, now: number = this.now()): boolean {
    if (now - this.#start >= STAT_REUSE_MS) {
      this.#previous = now - this.#start < 2 * STAT_REUSE_MS ? this.#count : 0;
      this.#start = now;
      this.#count = 0;
    }
    this.#count++;
    return this.#previous + this.#count > STAT_REUSE_BUSY_PEEKS && now - checkedAt < STAT_REUSE_MS;
  }
}
