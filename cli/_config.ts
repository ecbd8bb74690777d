/**
 * What the subcommands that act on a config share: printing through `Output` (tests replace it) and loading the
 * config with its warnings and errors reported the same way everywhere.
 */
import type { Config, Diagnostic } from "../src/config/types.ts";
import { loadConfig } from "../src/config/load.ts";
import { formatDiagnostic } from "../src/config/diagnostic_text.ts";
import type { Output } from "./register_key.ts";

/** Info to stdout, errors and warnings to stderr. */
export const consoleOutput: Output = { info: (l) => console.log(l), error: (l) => console.error(l) };

/**
 * The config of `files`, or null after printing why it is invalid (warnings are printed either way, except those
 * `irrelevant` says do not concern the subcommand).
 */
export async function loadConfigOrReport(
  files: string[],
  out: Output,
  irrelevant: (warning: Diagnostic) => boolean = () => false,
): Promise<Config | null> {
  const result = await loadConfig(files);
  for (const w of result.warnings) if (!irrelevant(w)) out.error(formatDiagnostic(w, "warning"));
  if (!result.ok || !result.config) {
    for (const e of result.errors) out.error(formatDiagnostic(e, "error"));
    out.error("The config is invalid: fix the errors above (acmems check-config shows them too).");
    return null;
  }
  return result.config;
}
