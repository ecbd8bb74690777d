/**
 * The audit record of one /sign request and its log line.
 *
 * Contract: exactly one record per /sign decision (every answer once the route matched, method-not-allowed
 * included), logged as the event `sign` at info (2xx/3xx), warning (4xx) or error (5xx), then handed to
 * `onDecision` (metrics, tests). Every key is always present, null when it does not apply, so a log reader sees the
 * same fields on every line. The record never holds a secret: the HMAC header and the body stay out of it. A policy
 * refusal (403 "not authorized") records which check failed for the closest auth block (`closest`, `reason`): the
 * log says it, the response does not.
 */
import type { Logger } from "../ops/log.ts";

/**
 * The audit record of one /sign request. Every key is always present (null when it does not apply), so a log
 * reader sees the same fields on every line.
 */
export interface SignDecision {
  client: string;
  status: number;
  /** The auth block that admitted the request; null before or without a match. */
  block: string | null;
  names: string[];
  outcome: string;
  durationMs: number;
  /** hit, miss or stale on a 200; null otherwise. */
  cache: string | null;
  /** When the failure kind carries one (respond.ts `carriesErrorId`; also in the response body); null otherwise. */
  errorId: string | null;
  /**
   * When no auth block admitted the client (a 403 "not authorized"): the closest block (src/policy/closest_block.ts);
   * null otherwise. Log only: the response never says it.
   */
  closest: string | null;
  /** With `closest`: the check that block failed (address, Authentication header, HMAC, a name); null otherwise. */
  reason: string | null;
}

/** What the pipeline knows about a decision besides the client, the status and the time taken. */
export type DecisionFields =
  & Partial<Pick<SignDecision, "block" | "names" | "cache" | "errorId" | "closest" | "reason">>
  & {
    outcome: string;
  };

/** The full record: absent fields become null (names: empty). */
export function signDecision(client: string, status: number, durationMs: number, fields: DecisionFields): SignDecision {
  return {
    client,
    status,
    block: fields.block ?? null,
    names: fields.names ?? [],
    outcome: fields.outcome,
    durationMs,
    cache: fields.cache ?? null,
    errorId: fields.errorId ?? null,
    closest: fields.closest ?? null,
    reason: fields.reason ?? null,
  };
}

/** The record's log line: `sign` at error for 5xx, warn for 4xx, info otherwise. */
export function logDecision(log: Logger, decision: SignDecision): void {
  const level = decision.status >= 500 ? "error" : decision.status >= 400 ? "warn" : "info";
  // The logger reads the fields and keeps nothing: the record itself, no copy.
  log[level]("sign", decision as unknown as Record<string, unknown>);
}
