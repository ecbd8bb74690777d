/**
 * Structured logging: one line per event, `text` or `json`, to stderr, stdout or a file.
 *
 * Every configured secret (HMAC keys, TSIG secrets, the EAB key) is registered with the logger and replaced by `***`
 * in every line it writes, as a second line of defence behind code that never logs secrets in the first place.
 */
import type { LogLevel } from "./config/types.ts";

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
  /** Replaces the sink (tests): receives each finished line without newline. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  let secrets = (opts.secrets ?? []).filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const now = opts.now ?? (() => new Date());
  const encoder = new TextEncoder();
  let file: Deno.FsFile | undefined;
  let write = opts.write;
  if (!write) {
    if (opts.destination === "stdout") write = (line) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
    else if (opts.destination === "stderr") write = (line) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
    else {
      file = Deno.openSync(opts.destination, { append: true, create: true, mode: 0o640 });
      const handle = file;
      write = (line) => {
        const bytes = encoder.encode(line + "\n");
        let written = 0;
        while (written < bytes.length) written += handle.writeSync(bytes.subarray(written));
      };
    }
  }
  const sink = write;
  const threshold = RANK[opts.level];

  const scrub = (text: string): string => {
    for (const secret of secrets) if (text.includes(secret)) text = text.split(secret).join("***");
    return text;
  };

  const emit = (level: LogLevel, event: string, fields: LogFields = {}) => {
    if (RANK[level] > threshold) return;
    const time = now().toISOString();
    let line: string;
    if (opts.format === "json") {
      // The record's own keys come first and win over fields of the same name.
      const record: Record<string, unknown> = { time, level, event };
      for (const [key, value] of Object.entries(fields)) if (!(key in record)) record[key] = value;
      line = JSON.stringify(record, jsonReplacer);
    } else {
      const parts = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${formatTextValue(v)}`);
      line = `${time} ${level.toUpperCase().padEnd(7)} ${event}${parts.length > 0 ? " " + parts.join(" ") : ""}`;
    }
    try {
      sink(scrub(line));
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
      secrets = [...new Set([...secrets, ...more.filter((s) => s.length >= 4)])].sort((a, b) => b.length - a.length);
    },
    close() {
      try {
        file?.close();
      } catch {
        // already closed
      }
      file = undefined;
    },
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

function formatTextValue(value: unknown): string {
  if (value instanceof Error) value = value.message;
  if (Array.isArray(value)) value = value.join(",");
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
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
