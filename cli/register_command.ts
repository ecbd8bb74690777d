/**
 * The `acmems register` command line that fixes an account `serve` cannot use: `serve` prints it (cli/serve_run.ts),
 * on its own so that cli/serve.ts exports it without loading the server.
 */
import { shellWord } from "../src/config/text.ts";
import type { AccountProblem } from "../src/account/session.ts";

/**
 * The `acmems register` command that fixes an account session that failed for good (`AccountSession` state
 * "failed": the CA knows no account for the key and the terms are not accepted, or it requires external account
 * binding).
 */
export function registerCommand(files: string[], problem: AccountProblem["kind"], ca = "default"): string {
  const action = problem === "eab-required"
    ? "--register --accept-terms-of-service --eab-kid KID --eab-hmac-key-file FILE"
    : "--register --accept-terms-of-service";
  const which = ca === "default" ? "" : `--ca ${shellWord(ca)} `;
  return `acmems register ${which}${action} ${files.map(shellWord).join(" ")}`;
}
