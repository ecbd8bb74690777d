/**
 * `[logging]` (merged across files): level, format and destination, with their defaults (info, text, stderr).
 * Pure apart from `ConfigEnvironment.resolvePath` for a file destination.
 */
import type { IniSection } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { collectOptions, type Diagnostics } from "../diagnostics.ts";
import { LOGGING_OPTIONS as L } from "../schema.ts";
import { truncate } from "../text.ts";
import type { LoggingConfig, LogLevel } from "../types.ts";

const LOG_LEVELS: Record<string, LogLevel> = {
  error: "error",
  warning: "warning",
  warn: "warning",
  info: "info",
  debug: "debug",
};

export const buildLogging =
  (function buildLogging(sections: IniSection[], env: ConfigEnvironment, diag: Diagnostics): LoggingConfig {
    const o = collectOptions(sections.flatMap((s) => s.entries), L, "[logging]", diag);
    const logging: LoggingConfig = { level: "info", format: "text", destination: "stderr" };
    const level = o.one(L.level);
    if (level) {
      const found = LOG_LEVELS[level.value.toLowerCase()];
      if (found) logging.level = found;
      else {
        diag.error(
          level.source,
          `[logging] level "${truncate(level.value)}" is not one of error, warning, info, debug`,
        );
      }
    }
    const format = o.one(L.format);
    if (format) {
      const value = format.value.toLowerCase();
      if (value === "text" || value === "json") logging.format = value;
      else diag.error(format.source, `[logging] format "${truncate(format.value)}" is not text or json`);
    }
    const destination = o.one(L.destination);
    if (destination) {
      const value = destination.value;
      if (value === "") {
        diag.error(destination.source, "[logging] destination is empty: use stderr, stdout or a file path");
      } else if (value === "stderr" || value === "stdout") logging.destination = value;
      else if (value === "syslog" || value === "journalctl") {
        diag.error(
          destination.source,
          `[logging] destination ${value} is not supported: use stderr (journald captures it under systemd), stdout or a file path`,
        );
      } else logging.destination = env.resolvePath(value, destination.source.file);
    }
    return logging;
  }).bind(null);
