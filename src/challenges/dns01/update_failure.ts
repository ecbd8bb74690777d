/**
 * Reporting failed DNS UPDATE exchanges (and lookups that kept an add from being sent) to the solver's
 * `onUpdateFailure` hook, e.g. a metrics counter. Reporting never throws: a throwing hook is logged at
 * error level and ignored. Nothing here retries.
 */
import type { Logger } from "../../ops/log.ts";
import { DnsError } from "./dns/client.ts";

/** One failed UPDATE exchange (or lookup that kept an add from being sent). */
export interface DnsUpdateFailure {
  /** The [verification] block. */
  verification: string;
  /** The zone updated; for a lookup, the configured zone if any. */
  zone?: string;
  /** The record's owner name (for a lookup: `_acme-challenge.<name>` or the CNAME target reached). */
  name: string;
  operation: "add" | "delete" | "lookup";
  /**
   * The server's rcode (REFUSED, NOTAUTH, NOTZONE, ...) when it answered with an error; otherwise what went wrong:
   * `unreachable` (no server answered), `key` (the answer's TSIG signature is missing or wrong), `other`.
   */
  reason: string;
  error: Error;
}

/** A low-cardinality reason for a failed UPDATE (metrics label): the rcode, else the error kind. */
export function updateFailureReason(error: unknown): string {
  if (error instanceof DnsError) return error.rcode ?? error.kind;
  return "other";
}

/** Hands one failure to `hook` (if any); a throwing hook is logged and ignored. */
export function reportUpdateFailure(
  hook: ((failure: DnsUpdateFailure) => void) | undefined,
  log: Logger,
  failure: Omit<DnsUpdateFailure, "reason" | "error"> & { error: unknown },
): void {
  try {
    hook?.({
      verification: failure.verification,
      zone: failure.zone,
      name: failure.name,
      operation: failure.operation,
      reason: updateFailureReason(failure.error),
      error: failure.error instanceof Error ? failure.error : new Error(String(failure.error)),
    });
  } catch (hookError) {
    log.error("dns-01 update failure hook failed", {
      verification: failure.verification,
      error: hookError instanceof Error ? hookError.message : String(hookError),
    });
  }
}
