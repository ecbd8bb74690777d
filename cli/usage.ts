/** A usage error: printed with the subcommand's usage on stderr, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What every subcommand module provides to `main.ts`. */
export interface Subcommand {
  name: string;
  summary: string;
  usage: string;
  /** Runs the subcommand; resolves to the process exit status. */
  run(args: string[]): Promise<number>;
}
