/**
 * Errors that are not CA answers: transport failures, timeouts and malformed CA data.
 * (A CA's own error answer is an `AcmeProblem`, see problem.ts.)
 */

/** The request could not be completed: DNS, connection refused/reset, TLS failure. */
export class AcmeNetworkError extends Error {
  override name = "AcmeNetworkError";
  /** The request URL. */
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`Request to ${url} failed: ${describeCause(cause)}`, { cause });
    this.url = url;
  }
}

/** Joins an error's message with its causes' ("fetch failed" alone says nothing about DNS vs refused). */
function describeCause(cause: unknown): string {
  const parts: string[] = [];
  for (let e = cause, depth = 0; e !== undefined && depth < 4; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.includes(message)) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

/** A request or a polling loop ran out of time. */
export class AcmeTimeoutError extends Error {
  override name = "AcmeTimeoutError";
  /** The URL being requested or polled. */
  readonly url: string;
  constructor(url: string, message: string) {
    super(message);
    this.url = url;
  }
}

/** The CA sent something that violates the protocol (bad JSON, missing Location, invalid ARI window). */
export class AcmeProtocolError extends Error {
  override name = "AcmeProtocolError";
  /** The URL whose response was malformed. */
  readonly url: string;
  constructor(url: string, message: string) {
    super(message);
    this.url = url;
  }
}

/** The CA does not offer a feature the caller asked for (no renewalInfo, no keyChange, unknown profile). */
export class AcmeUnsupportedError extends Error {
  override name = "AcmeUnsupportedError";
}

/**
 * A URL from the CA was not followed: not https: (or not the directory's own http: scheme), on an origin that is
 * neither the directory's nor an allowed one, or answered with a redirect. `url` is the refused URL.
 */
export class AcmeUrlRefusedError extends AcmeProtocolError {
  override name = "AcmeUrlRefusedError";
}
