/**
 * acmems entry point: dispatches to one subcommand in `cli/`.
 *
 * Exit statuses: 0 success, 1 failure (invalid config, CA error, ...), 2 usage error.
 */
import { type Subcommand, UsageError } from "./cli/usage.ts";
import { VERSION } from "./src/version.ts";

/**
 * Each subcommand's module, loaded only when that subcommand runs: a command loads what it needs and nothing else
 * (`check-config` never loads the server, `--version` loads nothing). Listed in the order the usage shows them.
 */
export const SUBCOMMANDS: Record<string, () => Promise<Subcommand>> = {
  "serve": async () => (await import("./cli/serve.ts")).serveCommand,
  "register": async () => (await import("./cli/register.ts")).registerCommand,
  "revoke": async () => (await import("./cli/revoke.ts")).revokeCommand,
  "check-config": async () => (await import("./cli/check_config.ts")).checkConfigCommand,
  "records": async () => (await import("./cli/records.ts")).recordsCommand,
  "status": async () => (await import("./cli/status.ts")).statusCommand,
  "eab": async () => (await import("./cli/eab.ts")).eabCommand,
};

/** The subcommand named `name`, or undefined (loads its module). */
function subcommand(name: string): Promise<Subcommand> | undefined {
  return Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name]() : undefined;
}

/** The main usage (loads every subcommand's module for its summary: only for help and usage errors). */
export async function mainUsage(): Promise<string> {
  const commands = await Promise.all(Object.values(SUBCOMMANDS).map((load) => load()));
  const lines = [
    "Usage: acmems <subcommand> [options] CONFIG...",
    "",
    "An ACME management server: hosts send CSRs, acmems gets them signed by an ACME CA.",
    "",
    "Subcommands:",
    ...commands.map((c) => `  ${c.name.padEnd(14)}${c.summary}`),
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
    console.error((await mainUsage()).trimEnd());
    return 2;
  }
  if (first === "-h" || first === "--help") {
    console.log((await mainUsage()).trimEnd());
    return 0;
  }
  if (first === "-V" || first === "--version") {
    console.log(`acmems ${VERSION}`);
    return 0;
  }
  if (first === "help") {
    if (rest.length === 0) {
      console.log((await mainUsage()).trimEnd());
      return 0;
    }
    const command = await subcommand(rest[0]);
    if (!command) {
      console.error(`acmems: unknown subcommand "${rest[0]}"\n\n${(await mainUsage()).trimEnd()}`);
      return 2;
    }
    console.log(command.usage.trimEnd());
    return 0;
  }
  const command = await subcommand(first);
  if (!command) {
    const hint = first.startsWith("-") ? `unknown option "${first}"` : `unknown subcommand "${first}"`;
    console.error(`acmems: ${hint}\n\n${(await mainUsage()).trimEnd()}`);
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
