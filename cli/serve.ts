import type { Subcommand } from "./usage.ts";

export const serveCommand: Subcommand = {
  name: "serve",
  summary: "run the management server (coming with the signing-path issue)",
  usage: `Usage: acmems serve CONFIG...

Runs the management and challenge listeners described by the config files.
Not implemented yet: it arrives with the signing-path issue. Use "acmems check-config" meanwhile.
`,
  run(_args: string[]): Promise<number> {
    console.error(
      'acmems serve: not implemented yet; it comes with the signing-path work. Validate your config with "acmems check-config CONFIG".',
    );
    return Promise.resolve(1);
  },
};
