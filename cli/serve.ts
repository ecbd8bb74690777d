/**
 * `acmems serve`: validate the config, bind the listeners, then load the server (cli/serve_run.ts) and run until
 * SIGINT/SIGTERM.
 */
import { loadConfig } from "../src/config/load.ts";
import { formatDiagnostic } from "../src/config/diagnostic_text.ts";
import { EarlyListeners } from "../src/server/early_listeners.ts";
import type { App } from "../src/server/app.ts";
import { type Subcommand, UsageError } from "./usage.ts";

export { registerCommand } from "./register_command.ts";

const USAGE = `Usage: acmems serve CONFIG...

Runs the management listeners (POST /sign) and the http-01 challenge listeners of the config.
On first start without an account (no key, or a key the CA knows no account for), it registers
if the config accepts the terms of service (accept-terms-of-service = yes); otherwise it exits 1
naming the "acmems register" command to run first.
If the CA is unreachable, acmems still starts: /sign answers 503 until the CA is back. With several
CAs ([ca "name"] sections), each is connected on its own: one that is unreachable is retried in the
background while orders fail over to the next CA of the auth block's ca = list.
SIGHUP reloads the config; SIGINT or SIGTERM stop it cleanly.

Options:
  -h, --help  show this help
`;

export interface ServeOptions {
  /** Stops the server when aborted (tests, the quick start); a string `reason` is the stop reason logged. */
  signal?: AbortSignal;
  onReady?: (app: App) => void;
  /** A "reload" event on it does what SIGHUP does (tests). */
  reload?: EventTarget;
}

export const runServe = (async function runServe(files: string[], opts: ServeOptions = {}): Promise<number> {
  const result = await loadConfig(files);
  for (const w of result.warnings) console.error(formatDiagnostic(w, "warning"));
  if (!result.ok || !result.config) {
    for (const e of result.errors) console.error(formatDiagnostic(e, "error"));
    console.error("acmems serve: the config is invalid (see above; acmems check-config shows the same).");
    return 1;
  }
  // Before anything is created on disk (log file, account key, storage directories): a serve that cannot listen,
  // e.g. a second one on the same address, leaves nothing behind. Before the server's code loads, too: the ports
  // accept connections from here on, and a request waits for the App (src/server/early_listeners.ts).
  let listeners: EarlyListeners;
  try {
    listeners = await EarlyListeners.bind(result.config);
  } catch (error) {
    console.error(`acmems serve: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  try {
    const { serveBound } = await import("./serve_run.ts");
    return await serveBound(files, result, listeners, opts);
  } finally {
    await listeners.close(); // unless the App took them over (it closes them itself)
  }
}).bind(null);

export const serveCommand: Subcommand = {
  name: "serve",
  summary: "run the management server and the challenge listeners",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const files: string[] = [];
    for (const arg of args) {
      if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option "${arg}"`);
      files.push(arg);
    }
    if (files.length === 0) throw new UsageError("no config file given");
    return await runServe(files);
  },
};
