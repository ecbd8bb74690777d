/**
 * What a caller asks of issuance and what it gets back (the /sign handler, the renewal sweep, later other fronts).
 */
import type { NotifyEvent } from "../config/types.ts";
import type { NotificationPayload } from "../ops/notify.ts";
import type { FailureKind } from "./failure.ts";

export interface IssueRequest {
  /** Exact CSR DER. */
  csrDer: Uint8Array;
  /** Hex SHA-256 of the DER ("" when unknown: the key is then computed without the memo). */
  csrSha256: string;
  /**
   * The order's identifiers: normalized DNS names, then IP addresses (RFC 8738) in canonical text; `toIdentifier`
   * (src/acme/orders.ts) makes an IP address an `ip` identifier, and `isIpName` (src/csr/names.ts) tells them apart.
   */
  names: string[];
  profile?: string;
  /**
   * A profile the client itself asked for (the ACME front end's newOrder `profile`): every CA of a block's chain is
   * asked for it, not the block's or each CA's own.
   */
  requestedProfile?: string;
  /** Name of the [verification] block. */
  verification: string;
  /** Name of the [storage] block, or null for no caching. */
  storage: string | null;
  /**
   * Name of the `[auth]` block that admitted the request, recorded in the cache entry: background renewal renews
   * the entry only while that block admits it (src/renewal/admission.ts).
   */
  block?: string;
  /** Client address, for logs. */
  client?: string;
}

/** The request of a front (/sign, the ACME front end's finalize) for a checked CSR admitted by `block`. */
export function issueRequestFor(
  csr: { der: Uint8Array; sha256: string },
  names: string[],
  profile: string | undefined,
  block: { name: string; verification: string; storage: string | null },
  client: string,
): IssueRequest {
  return {
    csrDer: csr.der,
    csrSha256: csr.sha256,
    names,
    profile,
    verification: block.verification,
    storage: block.storage,
    block: block.name,
    client,
  };
}

/** hit: served from the cache; miss: ordered for this request; stale: due, renewal impossible now, still valid. */
export type CacheState = "hit" | "miss" | "stale";

export interface IssueResult {
  /** Leaf first, PEM blocks separated by one empty line, ending with a newline. */
  chain: string;
  cache: CacheState;
  /** When the client should come back for the renewed certificate. */
  renewAfter?: Date;
  /** The CA's ARI window, when known. */
  window?: { start: Date; end: Date };
  /** The cache key of the entry served (absent when no entry was involved). */
  key?: string;
}

/** What issuance tells the notifiers; `kind` (issue-failed) is mapped to the /sign status by the server wiring. */
export type IssueEventDetails = Omit<NotificationPayload, "event" | "time" | "host" | "status"> & {
  kind?: FailureKind;
};

/** Operator notifications (issue-failed, renewal-failed, expiring). */
export type OnIssueEvent = (event: NotifyEvent, details: IssueEventDetails) => void;
