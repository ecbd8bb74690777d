/**
 * Gives memory back once a burst of load is over. Under load the V8 heap grows and the native allocator (glibc's
 * malloc arenas of Deno's HTTP server) keeps what was freed; when the load stops, nothing wakes V8's memory reducer
 * reliably and glibc never returns the freed middle of its arenas, so RSS stays at the peak (bench/probes/after_load.ts).
 *
 * Contract: `startIdleTrim(deps)` checks `deps.memory()` every `intervalMs` (timers from `deps`). A check is quiet
 * when the process used less than `quietCpuShare` of the interval in CPU time since the previous check
 * (`deps.cpuMs`, all threads; a server under load uses most of a core), or, without `cpuMs`, when the V8 heap in
 * use moved by less than `quietBytes` (a loaded server allocates megabytes between two checks, though a GC can
 * bring it back near the same figure by chance). On a quiet check, when RSS is at least `minGainBytes`
 * above what it was after the last trim (or at start), it trims once: `deps.collect()` (a full GC) then
 * `deps.release()` (give freed native memory back), and remembers the RSS after that as the new base. So a server
 * trims once per burst of load, after the burst, and never while it is busy or when there is little to gain.
 * A throwing `collect`/`release` is ignored (the next burst tries again). `stop()` clears the timer; the timer does
 * not keep the process alive (`deps.unref`).
 */

export interface IdleTrimMemory {
  /** Resident set size of the process, bytes. */
  rss: number;
  /** V8 heap in use, bytes. */
  heapUsed: number;
}

export interface IdleTrimDeps {
  memory: () => IdleTrimMemory;
  /** CPU time the process has used so far, ms (user + system, all threads); undefined when it cannot be read. */
  cpuMs?: () => number | undefined;
  /** A full garbage collection (the `gc` of `--expose-gc`), or nothing when not available. */
  collect: () => void;
  /** Returns freed native memory to the OS (glibc's `malloc_trim(0)`), or nothing when not available. */
  release: () => void;
  setInterval: (fn: () => void, ms: number) => number;
  clearInterval: (id: number) => void;
  /** Lets the process exit while the timer runs (Deno.unrefTimer). */
  unref?: (id: number) => void;
  /** Called after each trim with RSS before and after (a log line). */
  onTrim?: (before: number, after: number) => void;
  intervalMs?: number;
  quietBytes?: number;
  quietCpuShare?: number;
  minGainBytes?: number;
}

export interface IdleTrim {
  stop(): void;
  /** One check, as the timer runs it (tests). */
  check(): void;
  /** Trims done so far. */
  readonly trims: number;
}

export const IDLE_TRIM_INTERVAL_MS = 5_000;
export const IDLE_TRIM_QUIET_BYTES = 256 * 1024;
export const IDLE_TRIM_QUIET_CPU_SHARE = 0.02;
export const IDLE_TRIM_MIN_GAIN_BYTES = 16 * 1024 * 1024;

export function startIdleTrim(deps: IdleTrimDeps): IdleTrim {
  const quietBytes = deps.quietBytes ?? IDLE_TRIM_QUIET_BYTES;
  const minGain = deps.minGainBytes ?? IDLE_TRIM_MIN_GAIN_BYTES;
  const intervalMs = deps.intervalMs ?? IDLE_TRIM_INTERVAL_MS;
  const quietCpuMs = (deps.quietCpuShare ?? IDLE_TRIM_QUIET_CPU_SHARE) * intervalMs;
  let previous = deps.memory();
  let previousCpu = deps.cpuMs?.();
  let base = previous.rss;
  let trims = 0;
  const check = () => {
    const now = deps.memory();
    const cpu = deps.cpuMs?.();
    const quiet = cpu !== undefined && previousCpu !== undefined
      ? cpu - previousCpu < quietCpuMs
      : Math.abs(now.heapUsed - previous.heapUsed) < quietBytes;
    previous = now;
    previousCpu = cpu;
    if (!quiet || now.rss < base + minGain) return;
    try {
      deps.collect();
      deps.release();
    } catch {
      // Best effort: memory stays as it is until the next burst.
    }
    trims++;
    previous = deps.memory();
    previousCpu = deps.cpuMs?.(); // the trim's own CPU time does not make the next check busy
    base = previous.rss;
    deps.onTrim?.(now.rss, base);
  };
  const id = deps.setInterval(check, intervalMs);
  deps.unref?.(id);
  return {
    stop: () => deps.clearInterval(id),
    check,
    get trims() {
      return trims;
    },
  };
}

/**
 * The idle trim of this process: `gc` from `--expose-gc` (its memory-reducing flavour) and glibc's malloc_trim (src/ops/malloc_trim.ts, with
 * `--allow-ffi` for libc), whichever are there; undefined (no timer) when neither is. Trims are logged at debug.
 */
export function startProcessIdleTrim(
  release: (() => void) | undefined,
  log: { debug(event: string, fields: Record<string, unknown>): void },
  /** Called after each trim (the `acmems_memory_trims_total` counter). */
  onTrim?: () => void,
): IdleTrim | undefined {
  const gc = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
  if (!gc && !release) return undefined;
  const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
  return startIdleTrim({
    memory: () => Deno.memoryUsage(),
    cpuMs: processCpuMs(),
    // "last-resort": V8's memory-reducing full GC (several passes, new space shrunk, free pages unmapped); a plain
    // gc() keeps the grown young generation committed (probe: RSS 131 vs 42 MB after a 60 MB heap, 22 vs 4 ms).
    collect: () => gc?.({ type: "major", execution: "sync", flavor: "last-resort" }),
    release: () => release?.(),
    setInterval: (fn, ms) => Number(setInterval(fn, ms)),
    clearInterval: (id) => clearInterval(id),
    unref: (id) => Deno.unrefTimer(id),
    onTrim: (before, after) => {
      log.debug("memory trimmed", { rss_before_mb: mb(before), rss_after_mb: mb(after) });
      onTrim?.();
    },
  });
}

/**
 * The process's CPU time from /proc/self/stat (utime + stime, in clock ticks of 10 ms, the Linux USER_HZ), or
 * undefined where there is no such file or no read permission for it (never asked for).
 */
export function processCpuMs(): (() => number | undefined) | undefined {
  const path = "/proc/self/stat";
  if (Deno.build.os !== "linux" || Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return undefined;
  }
  const read = () => {
    try {
      // After the command name in parentheses: state is field 3, utime 14, stime 15.
      const fields = Deno.readTextFileSync(path).split(") ")[1].split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]);
      return Number.isFinite(ticks) ? ticks * 10 : undefined;
    } catch {
      return undefined;
    }
  };
  return read() === undefined ? undefined : read;
}
