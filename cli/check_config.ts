import { loadConfig } from "../src/config/load.ts";
import { configSummary, formatDiagnostic, resultToJson } from "../src/config/summary.ts";
import { type Subcommand, UsageError } from "./usage.ts";

export const checkConfigCommand: Subcommand = {
  name: "check-config",
  summary: "validate config files and show the effective config",
  usage: `Usage: acmems check-config [--json] CONFIG...

Validates the config files (merged in the order given) without touching the network.
Errors are printed as FILE:LINE: message on stderr (warnings and notes as FILE:LINE: warning: message
and FILE:LINE: note: message), then a summary of the effective config. Secrets are shown as ***.

Options:
  --json      print one JSON object: ok, errors[], warnings[], notes[] (each with file, line, message)
              and the effective config, section by section (mgmt.maxSize in bytes) and again under config
  -h, --help  show this help

Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.
`,
  async run(args: string[]): Promise<number> {
    let json = false;
    const files: string[] = [];
    for (const arg of args) {
      if (arg === "--json") json = true;
      else if (arg === "--") continue;
      else if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option "${arg}"`);
      else files.push(arg);
    }
    if (files.length === 0) throw new UsageError("no config file given");
    const result = await loadConfig(files);
    if (json) {
      console.log(JSON.stringify(resultToJson(result), null, 2));
      return result.ok ? 0 : 1;
    }
    for (const e of result.errors) console.error(formatDiagnostic(e, "error"));
    for (const w of result.warnings) console.error(formatDiagnostic(w, "warning"));
    for (const n of result.notes) console.error(formatDiagnostic(n, "note"));
    if (!result.ok || !result.config) {
      console.error(`Config is invalid: ${result.errors.length} error(s).`);
      return 1;
    }
    console.log(configSummary(result.config));
    console.log(`Config is valid${result.warnings.length > 0 ? ` (${result.warnings.length} warning(s))` : ""}.`);
    return 0;
  },
};
