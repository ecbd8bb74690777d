/**
 * How a config diagnostic is printed, on its own so that the commands that only report diagnostics (`serve`,
 * `register`, …) do not load the config summary (summary.ts, which re-exports it).
 */
import type { Diagnostic } from "./types.ts";

/** `FILE:LINE: message` for an error, `FILE:LINE: warning: message` and `FILE:LINE: note: message` for the others. */
export const formatDiagnostic = (function formatDiagnostic(d: Diagnostic, kind: "error" | "warning" | "note"): string {
  const place = d.line > 0 ? `${d.file}:${d.line}` : d.file;
  return kind === "error" ? `${place}: ${d.message}` : `${place}: ${kind}: ${d.message}`;
}).bind(null);
