/**
 * The stop-signal decision (src/ops/stop_signals.ts) on an injected clock: the first signal stops, the same one
 * again within the grace is ignored (one Ctrl-C delivered twice), a later one or the other signal stops at once.
 */
import { REPEAT_GRACE_MS, signalExitCode, type StopSignal, stopSignalHandler } from "../../../src/ops/stop_signals.ts";
import { assertEquals } from "../../support/assert.ts";

function setup() {
  let now = 1_000;
  const calls: string[] = [];
  const handle = stopSignalHandler({
    onStop: (s: StopSignal) => calls.push(`stop ${s}`),
    onForce: (s: StopSignal) => calls.push(`force ${s}`),
  }, () => now);
  return { handle, calls, pass: (ms: number) => (now += ms) };
}

Deno.test("stop signals: a repeat within the grace is the same request; after it, stop at once", () => {
  const { handle, calls, pass } = setup();
  handle("SIGINT");
  pass(5);
  handle("SIGINT"); // the process group's copy, or `deno task` passing it on
  pass(REPEAT_GRACE_MS - 10);
  handle("SIGINT");
  assertEquals(calls, ["stop SIGINT"]);
  pass(10);
  handle("SIGINT");
  assertEquals(calls, ["stop SIGINT", "force SIGINT"]);
});

Deno.test("stop signals: the other signal during the grace stops at once; exit codes are 128 + the number", () => {
  const { handle, calls, pass } = setup();
  handle("SIGTERM");
  pass(1);
  handle("SIGINT");
  assertEquals(calls, ["stop SIGTERM", "force SIGINT"]);
  assertEquals([signalExitCode("SIGINT"), signalExitCode("SIGTERM")], [130, 143]);
});
