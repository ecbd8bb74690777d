import { assert, assertEquals } from "../../support/assert.ts";
import {
  type IdleTrimDeps,
  type IdleTrimMemory,
  processCpuMs,
  startIdleTrim,
  startProcessIdleTrim,
} from "../../../src/ops/idle_trim.ts";
import { LIBC_PATHS, mallocTrim } from "../../../src/ops/malloc_trim.ts";

const MB = 1024 * 1024;

/** A fake process: memory readings set by the test, trims recorded, the timer held instead of run. */
function rig(start: IdleTrimMemory, over: Partial<IdleTrimDeps> = {}) {
  const state = {
    memory: start,
    calls: [] as string[],
    timers: new Map<number, () => void>(),
    intervals: [] as number[],
  };
  const deps: IdleTrimDeps = {
    memory: () => state.memory,
    collect: () => {
      state.calls.push("collect");
      state.memory = { ...state.memory, heapUsed: state.memory.heapUsed / 2 };
    },
    release: () => {
      state.calls.push("release");
      state.memory = { ...state.memory, rss: 70 * MB };
    },
    setInterval: (fn, ms) => {
      state.intervals.push(ms);
      state.timers.set(1, fn);
      return 1;
    },
    clearInterval: (id) => void state.timers.delete(id),
    ...over,
  };
  const tick = (memory: IdleTrimMemory) => {
    state.memory = memory;
    state.timers.get(1)?.();
  };
  return { state, deps, tick };
}

Deno.test("idle trim: trims once after a burst, when the heap is quiet and RSS grew", () => {
  const { state, deps, tick } = rig({ rss: 60 * MB, heapUsed: 8 * MB });
  const before: number[][] = [];
  const trim = startIdleTrim({ ...deps, onTrim: (b, a) => before.push([b, a]) });
  assertEquals(state.intervals, [5_000]);
  // Under load: RSS high, the heap moving by megabytes between checks.
  tick({ rss: 130 * MB, heapUsed: 30 * MB });
  tick({ rss: 135 * MB, heapUsed: 18 * MB });
  assertEquals(state.calls, []);
  // The load stopped: the heap stands still.
  tick({ rss: 135 * MB, heapUsed: 18 * MB + 1000 });
  assertEquals(state.calls, ["collect", "release"]);
  assertEquals(before, [[135 * MB, 70 * MB]]);
  // Idle afterwards: nothing more to gain, no more trims.
  tick({ rss: 70 * MB, heapUsed: 9 * MB });
  tick({ rss: 71 * MB, heapUsed: 9 * MB });
  tick({ rss: 71 * MB, heapUsed: 9 * MB });
  assertEquals(trim.trims, 1);
  // The next burst, then quiet again: a second trim.
  tick({ rss: 120 * MB, heapUsed: 25 * MB });
  tick({ rss: 120 * MB, heapUsed: 25 * MB });
  assertEquals(trim.trims, 2);
  trim.stop();
  assertEquals(state.timers.size, 0);
});

Deno.test("idle trim: no trim while quiet but RSS is within the minimum gain of the base", () => {
  const { state, tick, deps } = rig({ rss: 60 * MB, heapUsed: 8 * MB });
  const trim = startIdleTrim({ ...deps, minGainBytes: 16 * MB, intervalMs: 500 });
  assertEquals(state.intervals, [500]);
  tick({ rss: 75 * MB, heapUsed: 8 * MB });
  tick({ rss: 75 * MB, heapUsed: 8 * MB });
  assertEquals(trim.trims, 0);
  tick({ rss: 76 * MB, heapUsed: 8 * MB });
  assertEquals(trim.trims, 1);
  trim.stop();
});

Deno.test("idle trim: a throwing collect or release is swallowed and the base still moves", () => {
  const { tick, deps } = rig({ rss: 60 * MB, heapUsed: 8 * MB }, {
    collect: () => {
      throw new Error("no gc");
    },
  });
  const trim = startIdleTrim(deps);
  tick({ rss: 100 * MB, heapUsed: 8 * MB });
  assertEquals(trim.trims, 1);
  tick({ rss: 100 * MB, heapUsed: 8 * MB });
  assertEquals(trim.trims, 1, "the base is the RSS after the (failed) trim: no retry every check");
  trim.stop();
});

Deno.test("idle trim: the timer is unref'd", () => {
  const unrefd: number[] = [];
  const { deps } = rig({ rss: 60 * MB, heapUsed: 8 * MB });
  const trim = startIdleTrim({ ...deps, unref: (id) => unrefd.push(id) });
  assertEquals(unrefd, [1]);
  trim.stop();
});

Deno.test("malloc_trim: only with FFI allowed for a listed libc path, and it runs", async () => {
  assertEquals(mallocTrim(["/nonexistent/libc.so.6"]), undefined);
  const release = mallocTrim();
  const hasGlibc = Deno.build.os === "linux" && LIBC_PATHS.some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!hasGlibc) return;
  assert(release, "glibc is here and the test runs with --allow-all");
  release(); // opens, trims, closes: the resource sanitizer sees nothing left open
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    `import { mallocTrim } from "${new URL("../../../src/ops/malloc_trim.ts", import.meta.url)}";\n` +
      "console.log(mallocTrim() === undefined);\n",
  ));
  await writer.close();
  const denied = await child.output();
  assertEquals(new TextDecoder().decode(denied.stdout).trim(), "true", "without --allow-ffi it is undefined");
});

Deno.test("idle trim of the process: no timer without gc and without malloc_trim, a timer with either", () => {
  const log = { debug() {} };
  assertEquals(typeof (globalThis as { gc?: unknown }).gc, "undefined", "the tests run without --expose-gc");
  assertEquals(startProcessIdleTrim(undefined, log), undefined);
  const trim = startProcessIdleTrim(() => {}, log);
  assert(trim, "malloc_trim alone is enough");
  trim.check();
  trim.stop(); // the op sanitizer checks the interval is gone
});

Deno.test("idle trim of the process: each trim releases memory and calls onTrim (acmems_memory_trims_total)", () => {
  let trims = 0;
  let released = 0;
  const trim = startProcessIdleTrim(() => released++, { debug() {} }, () => trims++);
  assert(trim);
  try {
    // 64 MB of native memory in use since the start: RSS is well above the base once the fill is done.
    const ballast = new Uint8Array(64 * MB).fill(1);
    trim.check(); // may count the fill as busy
    trim.check(); // right after: quiet
    assertEquals([trims, released, trim.trims], [1, 1, 1]);
    assertEquals(ballast[64 * MB - 1], 1);
  } finally {
    trim.stop();
  }
});

Deno.test("idle trim: with CPU time, a busy interval is not quiet even when the heap is back at the same figure", () => {
  let cpu = 1000;
  const { state, tick, deps } = rig({ rss: 60 * MB, heapUsed: 8 * MB }, { cpuMs: () => cpu });
  const trim = startIdleTrim(deps);
  // Under load: 4 s of CPU per 5 s check; a GC happened to leave the heap where it was.
  for (let i = 0; i < 3; i++) {
    cpu += 4000;
    tick({ rss: 130 * MB, heapUsed: 8 * MB });
  }
  assertEquals(state.calls, []);
  // Load over: 20 ms of CPU in 5 s (2 % of the interval is 100 ms), the heap moving by a megabyte does not matter.
  cpu += 20;
  tick({ rss: 130 * MB, heapUsed: 9 * MB });
  assertEquals(state.calls, ["collect", "release"]);
  trim.stop();
});

Deno.test("idle trim: the process's CPU time is read from /proc on Linux", () => {
  const read = processCpuMs();
  if (Deno.build.os !== "linux") return assertEquals(read, undefined);
  assert(read, "readable with --allow-all");
  const first = read()!;
  assert(first > 0, `CPU time so far: ${first} ms`);
  // Burn CPU until the counter (10 ms ticks) moves: it must, and forwards.
  const end = performance.now() + 2000;
  while (read()! === first && performance.now() < end) for (let i = 0; i < 100_000; i++) Math.sqrt(i);
  assert(read()! > first, "the CPU time grows while this process computes");
});
