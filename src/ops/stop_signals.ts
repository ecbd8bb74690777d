/**
 * SIGINT and SIGTERM for a command that runs until it is stopped (`serve`, the quick start).
 *
 * One Ctrl-C can arrive more than once: a terminal signals its whole foreground process group, and `deno task` passes
 * the signal on to its child as well. So the first signal stops the command, the same signal again within
 * `REPEAT_GRACE_MS` is that same request and is ignored, and a signal after that (or the other one) means "stop
 * now": `onForce`, for a shutdown that hangs.
 *
 * Contract: `stopSignalHandler` is the pure decision (clock passed in); `watchStopSignals` installs it for SIGINT and
 * SIGTERM and returns the function that removes it. While installed, the signals' default actions are off.
 */

/** How long a repeat of the first stop signal counts as the same request. */
export const REPEAT_GRACE_MS = 1_000;

export type StopSignal = "SIGINT" | "SIGTERM";

export interface StopSignalActions {
  /** The first signal: stop cleanly. */
  onStop(signal: StopSignal): void;
  /** A signal after the grace (or a different one): stop at once. */
  onForce(signal: StopSignal): void;
}

/** What to do with each signal received, in order (`now`: a monotonic clock, ms). */
export function stopSignalHandler(
  actions: StopSignalActions,
  now: () => number = () => performance.now(),
): (signal: StopSignal) => void {
  let first: { signal: StopSignal; at: number } | undefined;
  return (signal) => {
    if (!first) {
      first = { signal, at: now() };
      actions.onStop(signal);
      return;
    }
    if (signal === first.signal && now() - first.at < REPEAT_GRACE_MS) return;
    actions.onForce(signal);
  };
}

/** Installs `stopSignalHandler(actions)` for SIGINT and SIGTERM; the result removes it (once). */
export function watchStopSignals(actions: StopSignalActions): () => void {
  const handle = stopSignalHandler(actions);
  const listeners = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const listener = () => handle(signal);
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners.splice(0)) Deno.removeSignalListener(signal, listener);
  };
}

/** The exit status of a process ended by `signal` (128 + its number), what a force stop exits with. */
export function signalExitCode(signal: StopSignal): number {
  return signal === "SIGINT" ? 130 : 143;
}
