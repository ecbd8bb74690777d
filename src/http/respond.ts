/**
 * The one table from failure kinds to what a client sees: the HTTP status, `Retry-After` and a text/plain body.
 *
 * Contract: no other file chooses a status for a failure. Layers below `http/` throw or return `IssueFailure`
 * (src/issuance/failure.ts); the handlers answer with `failureResponse`. Kinds whose answer carries an error id
 * (421, 429, 500, 503) get one in the body, so a client's report can be matched with the log.
 */
import type { FailureKind, IssueFailure } from "../issuance/failure.ts";

interface Answer {
  status: number;
  /** The body names an error id (the audit record and the log carry the same). */
  errorId: boolean;
  /** Retry-After is sent when the failure has one. */
  retryAfter: boolean;
}

const TABLE: Readonly<Record<FailureKind, Answer>> = {
  "not-found": { status: 404, errorId: false, retryAfter: false },
  "method-not-allowed": { status: 405, errorId: false, retryAfter: false },
  "length-required": { status: 411, errorId: false, retryAfter: false },
  "bad-request": { status: 400, errorId: false, retryAfter: false },
  "body-timeout": { status: 408, errorId: false, retryAfter: false },
  "too-large": { status: 413, errorId: false, retryAfter: false },
  "unusable-csr": { status: 415, errorId: false, retryAfter: false },
  "unsupported-media-type": { status: 415, errorId: false, retryAfter: false },
  refused: { status: 403, errorId: false, retryAfter: false },
  busy: { status: 503, errorId: true, retryAfter: true },
  conflict: { status: 409, errorId: false, retryAfter: false },
  "names-refused": { status: 421, errorId: true, retryAfter: false },
  "rate-limited": { status: 429, errorId: true, retryAfter: true },
  unavailable: { status: 503, errorId: true, retryAfter: true },
  internal: { status: 500, errorId: true, retryAfter: false },
};

/** The HTTP status of a failure kind (also the `status` field of `issue-failed` notifications). */
export function statusOf(kind: FailureKind): number {
  return TABLE[kind].status;
}

/** True when the answer for `kind` carries an error id. */
export function carriesErrorId(kind: FailureKind): boolean {
  return TABLE[kind].errorId;
}

const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

/** A text/plain answer; the body always ends with a newline. */
export function textResponse(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message.endsWith("\n") ? message : message + "\n", { status, headers: { ...TEXT, ...headers } });
}

/** The message with "(error id X)" appended unless it already names the id. */
export function withErrorId(message: string, errorId: string): string {
  return message.includes(errorId) ? message : `${message.trimEnd()} (error id ${errorId})`;
}

/**
 * The answer to a failure. `errorId` is the id to put in the body for kinds that carry one (the failure's own id
 * when it has one, else the caller's fresh id).
 */
export function failureResponse(failure: IssueFailure, errorId?: string): Response {
  const answer = TABLE[failure.kind];
  const headers: Record<string, string> = {};
  if (answer.retryAfter && failure.retryAfterSeconds !== undefined) {
    headers["Retry-After"] = String(failure.retryAfterSeconds);
  }
  const id = failure.errorId ?? errorId;
  const body = answer.errorId && id ? withErrorId(failure.message, id) : failure.message;
  return textResponse(answer.status, body, headers);
}
