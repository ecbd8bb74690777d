import type { Subcommand } from "./usage.ts";

export const registerCommand: Subcommand = {
  name: "register",
  summary: "create or show the ACME account",
  usage: `Usage: acmems register [options] CONFIG...
`,
  run(_args: string[]): Promise<number> {
    console.error("acmems register: not implemented yet.");
    return Promise.resolve(1);
  },
};
