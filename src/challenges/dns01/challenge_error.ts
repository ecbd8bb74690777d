/**
 * The wording and kind of a dns-01 failure as the ACME side sees it (ChallengeError): `unavailable` with
 * Retry-After when trying later may help (no server answered, journal not writable, unexpected), and
 * `names-refused` when the operator must act (REFUSED, key rejected, not a zone there). Pure apart from
 * one error log line for unexpected failures.
 */
import type { Logger } from "../../ops/log.ts";
import { ChallengeError } from "../solver.ts";
import { DnsError } from "./dns/client.ts";
import { JournalError } from "./journal.ts";

/** What the wording needs besides the error. */
export interface ChallengeErrorContext {
  /** The [verification] block. */
  verification: string;
  /** Retry-After (seconds) of `unavailable` failures. */
  retryAfterSeconds: number;
  log: Logger;
}

/** The ChallengeError for a failure setting the record of `owner` (reached through a CNAME at `name`). */
export function toChallengeError(
  ctx: ChallengeErrorContext,
  error: unknown,
  owner: string,
  name: string,
): ChallengeError {
  if (error instanceof ChallengeError) return error;
  const via = owner !== name ? ` (${owner} is a CNAME to ${name})` : "";
  if (error instanceof DnsError) {
    return error.transient
      ? new ChallengeError(error.message + via, "unavailable", ctx.retryAfterSeconds)
      : new ChallengeError(error.message + via, "names-refused");
  }
  if (error instanceof JournalError) {
    return new ChallengeError(
      `${error.message}; the TXT record for ${owner} was not added: fix the account directory`,
      "unavailable",
      ctx.retryAfterSeconds,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  ctx.log.error("dns-01 unexpected failure", { verification: ctx.verification, name, error: message });
  return new ChallengeError(
    `The dns-01 record for ${owner} could not be set: ${message}`,
    "unavailable",
    ctx.retryAfterSeconds,
  );
}
