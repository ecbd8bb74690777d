/**
 * Builds one DNS-UPDATE solver per `[verification] type = dns01-dnsUpdate` (dns-01) or `type = dns-account01`
 * (dns-account-01) block. They share one cleanup journal in the account directory (entries name their verification).
 */
import type { Config, DnsUpdateVerification } from "../../config/types.ts";
import type { Logger } from "../../ops/log.ts";
import { DnsUpdateSolver, type DnsUpdateSolverOptions } from "./solver.ts";
import { DnsJournal } from "./journal.ts";
import type { ChallengeSolver } from "../solver.ts";

/** `hooks`: observers every solver gets (e.g. `onUpdateFailure` for the metrics). */
export function createDnsUpdateSolvers(
  config: Config,
  log: Logger,
  hooks: Pick<DnsUpdateSolverOptions, "onUpdateFailure"> = {},
): Map<string, ChallengeSolver> {
  const solvers = new Map<string, ChallengeSolver>();
  const blocks = [...config.verifications.values()].filter((v): v is DnsUpdateVerification =>
    v.type === "dns01-dnsUpdate" || v.type === "dns-account01"
  );
  if (blocks.length === 0) return solvers;
  const journal = DnsJournal.inDirectory(config.account.dir, { log });
  const knownVerifications = new Set(blocks.map((v) => v.name));
  for (const v of blocks) solvers.set(v.name, new DnsUpdateSolver(v, { journal, log, knownVerifications, ...hooks }));
  return solvers;
}
