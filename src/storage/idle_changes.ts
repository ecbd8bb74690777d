/** The `ChangeFeed` of a storage nobody else writes to (`none`, `file`): it never reports, and ends on abort. */
import type { Change } from "./types.ts";

/** A change feed that never reports anything and ends when the signal aborts (storages nobody else writes to). */
export function idleChanges(signal: AbortSignal): AsyncIterable<Change> {
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () =>
          new Promise<IteratorResult<Change>>((resolve) => {
            const done = () => resolve({ done: true, value: undefined });
            if (signal.aborted) done();
            else signal.addEventListener("abort", done, { once: true });
          }),
      };
    },
  };
}
