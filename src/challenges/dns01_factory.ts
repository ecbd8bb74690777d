/**
 * Builds one dns-01 solver per `[verification] type = dns01-dnsUpdate` block.
 * (Placeholder until the RFC 2136 solver lands: no dns-01 solvers, so such blocks fail with a clear 500.)
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { ChallengeSolver } from "./solver.ts";

export function createDnsUpdateSolvers(_config: Config, _log: Logger): Map<string, ChallengeSolver> {
  return new Map();
}
