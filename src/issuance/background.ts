/** Fire-and-forget work (touches, ARI refreshes, renewal bookkeeping) that shutdown waits for. Never rejects. */
export class Background {
  readonly #running = new Set<Promise<unknown>>();

  /** Runs `promise` to its end in the background; its failure is dropped (the work logs its own). */
  track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
  }

  /** Everything still running. */
  get pending(): Promise<unknown>[] {
    return [...this.#running];
  }
}
