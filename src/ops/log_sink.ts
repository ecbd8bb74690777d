/**
 * Where a logger's finished lines go (log.ts): buffered for a moment and written several at a time, whole and in
 * order, and never lost on a normal exit.
 */

/**
 * Lines on their way to stderr, stdout or a file: whole, in order, several lines by one write where possible.
 *
 * Normally the lines logged during one job are written at its end, by a microtask queued with the first of them:
 * after the code that logged, before any continuation queued later, such as the one that sends the response of the
 * request that logged (a client that got its answer finds its line). Under a steady stream of lines (more than
 * `BUSY_LINES` in about 10–20 ms: a busy server, one line per request) they are written by a timer instead, every
 * `BUSY_FLUSH_MS` (4 ms), which saves most of the write calls (one per line cost about 8 µs per /sign cache hit);
 * a line then follows its response by up to a few milliseconds. Error lines, and a buffer over 64 KiB, are written
 * at once with everything before them; `close` writes what is left, and so does `flushPendingLogs`, which runs on
 * `unload` (dispatched by `Deno.exit` and at the end of the program) and on an uncaught error.
 */
export class BufferedSink {
  #lines: string[] = [];
  #chars = 0;
  #queued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Start of the current rate window, lines pushed in it, and in the window before it. */
  #windowStart = -Infinity;
  #inWindow = 0;
  #inPrevious = 0;
  readonly #out: (bytes: Uint8Array) => number;
  /** The microtask (it leaves a timer armed meanwhile alone: flush clears that). */
  readonly #task = () => {
    if (this.#queued) this.flush();
  };
  readonly #timerTask = () => {
    this.#timer = undefined;
    // A busy sink stays in `pending` between its batches: adding and deleting it every 4 ms made V8 rebuild that
    // Set's table each time, in the old generation (bench/probes/heap_sample.ts). It leaves at its next flush that
    // is not a busy batch (a quiet line, an urgent one, close).
    if (this.#queued) this.#write(true);
  };

  constructor(out: (bytes: Uint8Array) => number) {
    this.#out = out;
  }

  push(line: string, urgent: boolean): void {
    this.#lines.push(line);
    this.#chars += line.length + 1;
    const now = performance.now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#inPrevious = now - this.#windowStart < 2 * WINDOW_MS ? this.#inWindow : 0;
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    this.#inWindow++;
    if (urgent || this.#chars >= 65_536) {
      this.flush();
      return;
    }
    if (this.#queued) return;
    this.#queued = true;
    pending.add(this);
    hookExit();
    if (this.#inWindow + this.#inPrevious > BUSY_LINES) this.#timer = setTimeout(this.#timerTask, BUSY_FLUSH_MS);
    else queueMicrotask(this.#task);
  }

  /** Writes every buffered line now (never throws: a failed write drops the lines, as a failed line did before). */
  flush(): void {
    this.#write(false);
  }

  #write(stayPending: boolean): void {
    this.#queued = false;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!stayPending) pending.delete(this);
    if (this.#lines.length === 0) return;
    const text = this.#lines.length === 1 ? this.#lines[0] + "\n" : this.#lines.join("\n") + "\n";
    this.#lines = [];
    this.#chars = 0;
    try {
      const bytes = ENCODER.encode(text);
      let written = 0;
      while (written < bytes.length) written += this.#out(bytes.subarray(written));
    } catch {
      // A full disk or closed stderr must not take the server down.
    }
  }
}

/** Lines per rate window (this one and the one before) above which writes are batched by a timer. */
const BUSY_LINES = 32;
/**
 * How long a busy logger holds its lines: one timer and one write per batch (at 1 ms, timer and write cost a cache
 * hit about 2 µs; at 4 ms, a quarter of that).
 */
const BUSY_FLUSH_MS = 4;
const WINDOW_MS = 10;
const ENCODER = new TextEncoder();
/** Sinks holding lines not yet written. */
const pending = new Set<BufferedSink>();
let exitHooked = false;

/** Writes the lines every logger still holds (on exit; tests). */
export function flushPendingLogs(): void {
  for (const sink of [...pending]) sink.flush();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // `Deno.exit` dispatches `unload` but runs no queued microtask; an uncaught error ends the program before them.
  for (const type of ["unload", "error", "unhandledrejection"]) globalThis.addEventListener(type, flushPendingLogs);
}
