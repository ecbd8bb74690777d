/**
 * acmems entry point: dispatches to one subcommand in `cli/`.
 *
 * Exit statuses: 0 success, 1 failure (invalid config, CA error, ...), 2 usage error.
 */
import { checkConfigCommand } from "./cli/check_config.ts";
import { eabCommand } from "./cli/eab.ts";
import { recordsCommand } from "./cli/records.ts";
import { registerCommand } from "./cli/register.ts";
import { revokeCommand } from "./cli/revoke.ts";
import { serveCommand } from "./cli/serve.ts";
import { statusCommand } from "./cli/status.ts";
import { type Subcommand, UsageError } from "./cli/usage.ts";
import { VERSION } from "./src/version.ts";

export const SUBCOMMANDS: Subcommand[] = [
  serveCommand,
  registerCommand,
  revokeCommand,
  checkConfigCommand,
  recordsCommand,
  statusCommand,
  eabCommand,
];

export function mainUsage(): string {
  const lines = [
    "Usage: acmems <subcommand> [options] CONFIG...",
    "",
    "An ACME management server: hosts send CSRs, acmems gets them signed by an ACME CA.",
    "",
    "Subcommands:",
    ...SUBCOMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.summary}`),
    "  help <cmd>    show the help of one subcommand",
    "",
    "Options:",
    "  -h, --help     show this help",
    "  -V, --version  print the version",
  ];
  return lines.join("\n") + "\n";
}

export async function main(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined) {
    console.error(mainUsage().trimEnd());
    return 2;
  }
  if (first === "-h" || first === "--help") {
    console.log(mainUsage().trimEnd());
    return 0;
  }
  if (first === "-V" || first === "--version") {
    console.log(`acmems ${VERSION}`);
    return 0;
  }
  if (first === "help") {
    if (rest.length === 0) {
      console.log(mainUsage().trimEnd());
      return 0;
    }
    const command = SUBCOMMANDS.find((c) => c.name === rest[0]);
    if (!command) {
      console.error(`acmems: unknown subcommand "${rest[0]}"\n\n${mainUsage().trimEnd()}`);
      return 2;
    }
    console.log(command.usage.trimEnd());
    return 0;
  }
  const command = SUBCOMMANDS.find((c) => c.name === first);
  if (!command) {
    const hint = first.startsWith("-") ? `unknown option "${first}"` : `unknown subcommand "${first}"`;
    console.error(`acmems: ${hint}\n\n${mainUsage().trimEnd()}`);
    return 2;
  }
  if (rest.includes("-h") || rest.includes("--help")) {
    console.log(command.usage.trimEnd());
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`acmems ${command.name}: ${error.message}\n\n${command.usage.trimEnd()}`);
      return 2;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
