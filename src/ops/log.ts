/**
 * Structured logging: one line per event, `text` or `json`, to stderr, stdout or a file.
 *
 * Every configured secret (HMAC keys, TSIG secrets, the EAB key, webhook URL tokens, database passwords: see
 * `configSecrets` in src/config/secrets.ts) is registered with the logger and replaced by `***` in every line it
 * writes, as a second line of defence behind code that never logs secrets in the first place. The event and every
 * string in the fields (nested, and Error messages) are scrubbed before the line is serialised, so a secret with `"`
 * or `\` is caught before JSON or text quoting escapes it; the finished line is scrubbed again (raw and JSON-escaped
 * forms) for whatever serialisation put together.
 *
 * Lines to stderr, stdout or a file are buffered for a moment and written several at a time (`BufferedSink`), whole
 * and in order, and never lost on a normal exit.
 */
import type { LogLevel } from "../config/types.ts";
import { BufferedSink } from "./log_sink.ts";

export { flushPendingLogs } from "./log_sink.ts";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** Whether debug lines are written (to skip building expensive fields). */
  readonly debugEnabled: boolean;
  /** More strings to scrub (secrets of a reloaded config). */
  addSecrets(secrets: string[]): void;
  close(): void;
}

const RANK: Record<LogLevel, number> = { error: 0, warning: 1, info: 2, debug: 3 };

export interface LoggerOptions {
  level: LogLevel;
  format: "text" | "json";
  /** `stderr`, `stdout` or a file path (appended to, created with mode 0640). */
  destination: string;
  secrets?: string[];
  /** Replaces the clock (tests). */
  now?: () => Date;
  /** Replaces the sink (tests): receives each finished line without newline, at once. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  let secrets: string[] = [];
  let lineSecrets: string[] = [];
  // Short strings known to hold no secret, with their text form: lines repeat their keys and values (client, block,
  // outcome, names), so each is checked and formatted once. Cleared when secrets are added.
  const cleanText = new Map<string, string>();
  const register = (more: string[]) => {
    cleanText.clear();
    secrets = [...new Set([...secrets, ...more.filter((s) => s.length >= 4)])].sort((a, b) => b.length - a.length);
    // The forms a secret takes inside a finished line: raw, and escaped as in a JSON string (both formats quote so).
    lineSecrets = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]
      .sort((a, b) => b.length - a.length);
  };
  register(opts.secrets ?? []);
  // Epoch ms of the line (without an injected clock, no Date object per line).
  const injected = opts.now;
  const nowMs = injected ? () => injected().getTime() : Date.now;
  let file: Deno.FsFile | undefined;
  let buffered: BufferedSink | undefined;
  let sink: (line: string, urgent: boolean) => void;
  const custom = opts.write;
  if (custom) {
    sink = (line) => custom(line);
  } else {
    let out: (bytes: Uint8Array) => number;
    if (opts.destination === "stdout") out = (bytes) => Deno.stdout.writeSync(bytes);
    else if (opts.destination === "stderr") out = (bytes) => Deno.stderr.writeSync(bytes);
    else {
      file = Deno.openSync(opts.destination, { append: true, create: true, mode: 0o640 });
      const handle = file;
      out = (bytes) => handle.writeSync(bytes);
    }
    const lines = buffered = new BufferedSink(out);
    sink = (line, urgent) => lines.push(line, urgent);
  }
  const threshold = RANK[opts.level];
  const json = opts.format === "json";

  const scrubWith = (text: string, list: string[]): string => {
    for (const secret of list) if (text.includes(secret)) text = text.split(secret).join("***");
    return text;
  };
  const scrub = (text: string) => scrubWith(text, secrets);

  // The last time text: lines logged within the same millisecond share it (one /sign line per request).
  let lastMs = NaN;
  let lastTime = "";
  const timeText = () => {
    const ms = nowMs();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTime = new Date(ms).toISOString();
    }
    return lastTime;
  };

  /** The text form of a short string that holds no secret (remembered), or undefined for any other string. */
  const knownClean = (text: string): string | undefined => {
    let known = cleanText.get(text);
    if (known === undefined && text.length <= 64 && !containsAny(text, secrets)) {
      if (cleanText.size >= 512) cleanText.clear();
      cleanText.set(text, known = formatTextValue(text));
    }
    return known;
  };

  /**
   * The ` key=value` pairs of a text line when every key and value is a number, boolean, null or a short string (or
   * an array of short strings) known to hold no secret; undefined otherwise (then the general path formats them).
   */
  const cleanPairs = (fields: LogFields): string | undefined => {
    let out = "";
    for (const key in fields) {
      if (!Object.hasOwn(fields, key)) continue;
      const value = fields[key];
      if (value === undefined) continue;
      if (knownClean(key) === undefined) return undefined;
      let text: string | undefined;
      if (typeof value === "string") text = knownClean(value);
      else if (typeof value === "number" || typeof value === "boolean" || value === null) {
        text = formatTextValue(value);
      } else if (Array.isArray(value)) text = cleanList(value);
      if (text === undefined) return undefined;
      out += ` ${key}=${text}`;
    }
    return out;
  };
  // A list of strings is written joined by commas: the joined text is what is checked and formatted.
  const cleanList = (items: unknown[]): string | undefined =>
    items.every((item) => typeof item === "string") ? knownClean(items.join(",")) : undefined;

  /** The line of a record: its text or JSON form, every secret in its strings replaced (before the final pass). */
  const lineOf = (level: LogLevel, event: string, fields?: LogFields): string => {
    const time = timeText();
    // Text lines whose every key and value is known to be clean skip the scrubbed copy (the common case: /sign).
    const pairs = json ? undefined : fields ? cleanPairs(fields) : "";
    if (pairs !== undefined && (secrets.length === 0 || knownClean(event) !== undefined)) {
      return `${time} ${LABEL[level]} ${event}${pairs}`;
    }
    if (secrets.length > 0) {
      event = scrub(event);
      // The copy is made only when a secret is there to replace (or the nesting is too deep to look through).
      if (fields && mayNeedScrub(fields, secrets, 0)) fields = scrubFields(fields, scrub);
    }
    if (json) {
      // The record's own keys come first and win over fields of the same name.
      const record: Record<string, unknown> = { time, level, event };
      for (const key in fields) if (Object.hasOwn(fields, key) && !(key in record)) record[key] = fields[key];
      return JSON.stringify(record, jsonReplacer);
    }
    let line = `${time} ${LABEL[level]} ${event}`;
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined && Object.hasOwn(fields, key)) line += ` ${key}=${formatTextValue(value)}`;
    }
    return line;
  };

  const emit = (level: LogLevel, event: string, fields?: LogFields) => {
    if (RANK[level] > threshold) return;
    const line = lineOf(level, event, fields);
    try {
      // An error line is written at once, with everything before it; the others at the end of the current job.
      sink(scrubWith(line, lineSecrets), level === "error");
    } catch {
      // A full disk or closed stderr must not take the server down.
    }
  };

  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warning", e, f),
    error: (e, f) => emit("error", e, f),
    debugEnabled: threshold >= RANK.debug,
    addSecrets(more: string[]) {
      register(more);
    },
    close() {
      buffered?.flush();
      try {
        file?.close();
      } catch {
        // already closed
      }
      file = undefined;
    },
  };
}

/** `INFO   `, `WARNING`: the level column of text lines. */
const LABEL: Record<LogLevel, string> = {
  error: "ERROR".padEnd(7),
  warning: "WARNING".padEnd(7),
  info: "INFO".padEnd(7),
  debug: "DEBUG".padEnd(7),
};

/**
 * A copy of `fields` with `scrub` applied to every string in it, before serialisation: keys and values, inside
 * arrays and objects (their own enumerable keys, what JSON.stringify shows; to a depth of 8, deeper is replaced by
 * a marker), Error messages (an Error becomes its scrubbed message, as serialisation would show it anyway).
 */
function scrubFields(fields: LogFields, scrub: (text: string) => string): LogFields {
  const out: LogFields = {};
  for (const key in fields) if (Object.hasOwn(fields, key)) out[scrub(key)] = scrubValue(fields[key], scrub, 0);
  return out;
}

/**
 * Whether `scrubFields` could change how `value` is written: a string (key or value) that contains a secret, an
 * Error, or nesting near its depth limit. Read-only; false means the scrubbed copy would be written the same.
 */
function mayNeedScrub(value: unknown, secrets: readonly string[], depth: number): boolean {
  if (typeof value === "string") return containsAny(value, secrets);
  if (value === null || typeof value !== "object") return false;
  // An Error becomes its message in the copy, which an array's text form would show differently: take the copy.
  if (value instanceof Error || depth >= 8) return true;
  if (Array.isArray(value)) return value.some((item) => mayNeedScrub(item, secrets, depth + 1));
  if (depth > 0 && typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (containsAny(key, secrets)) return true;
    if (mayNeedScrub((value as Record<string, unknown>)[key], secrets, depth + 1)) return true;
  }
  return false;
}

function containsAny(text: string, secrets: readonly string[]): boolean {
  for (const secret of secrets) if (text.includes(secret)) return true;
  return false;
}

function scrubValue(value: unknown, scrub: (text: string) => string, depth: number): unknown {
  if (typeof value === "string") return scrub(value);
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error) return scrub(value.message);
  if (depth >= 8) return "(nested too deep)";
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, scrub, depth + 1));
  // A value that serialises itself (a Date) is left to the final pass over the line.
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (Object.hasOwn(value, key)) {
      out[scrub(key)] = scrubValue((value as Record<string, unknown>)[key], scrub, depth + 1);
    }
  }
  return out;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

const PLAIN = /^[^\s"=]+$/;
const formattedStrings = new Map<string, string>();

function formatTextValue(value: unknown): string {
  if (typeof value === "number" && Number.isFinite(value)) return String(value); // what JSON.stringify gives
  if (value === null) return "null";
  if (typeof value === "string") {
    // Lines repeat their values (client, block, outcome): short ones are formatted once.
    let text = formattedStrings.get(value);
    if (text === undefined) {
      text = PLAIN.test(value) ? value : JSON.stringify(value);
      if (value.length <= 64) {
        if (formattedStrings.size >= 512) formattedStrings.clear();
        formattedStrings.set(value, text);
      }
    }
    return text;
  }
  if (value instanceof Error) value = value.message;
  if (Array.isArray(value)) value = value.join(",");
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return PLAIN.test(text) ? text : JSON.stringify(text);
}

/** A logger that drops everything (tests, tools). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  debugEnabled: false,
  addSecrets() {},
  close() {},
};

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(level: LogLevel = "debug", secrets: string[] = []): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, format: "json", destination: "memory", secrets, write: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
