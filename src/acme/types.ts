/**
 * ACME resource shapes (RFC 8555 §7.1, RFC 9773, the profiles extension) as the client returns them.
 *
 * Contract: these mirror the CA's JSON; the client adds only `url` (the resource's own URL, from
 * `Location` or the request) to orders, authorizations and challenges. Unknown fields from the CA are
 * kept as they came. Timestamps stay RFC 3339 strings, as sent.
 */
import type { AcmeIdentifier, ProblemDocument } from "./problem.ts";

export type { AcmeIdentifier } from "./problem.ts";

/** The directory object (RFC 8555 §7.1.1) plus ARI's `renewalInfo`. */
export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  newAuthz?: string;
  revokeCert?: string;
  keyChange?: string;
  /** RFC 9773 ARI base URL. */
  renewalInfo?: string;
  meta?: AcmeDirectoryMeta;
}

/** Directory metadata. */
export interface AcmeDirectoryMeta {
  termsOfService?: string;
  website?: string;
  caaIdentities?: string[];
  externalAccountRequired?: boolean;
  /** Profile name → human description (draft-ietf-acme-profiles). */
  profiles?: Record<string, string>;
}

/** Account status. */
export type AccountStatus = "valid" | "deactivated" | "revoked";

/** An account object (RFC 8555 §7.1.2). */
export interface AcmeAccount {
  status: AccountStatus;
  contact?: string[];
  termsOfServiceAgreed?: boolean;
  orders?: string;
  [field: string]: unknown;
}

/** Order status (RFC 8555 §7.1.6). */
export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";

/** An order object with its URL. */
export interface AcmeOrder {
  /** The order's own URL (from `Location` on creation). */
  url: string;
  status: OrderStatus;
  expires?: string;
  identifiers: AcmeIdentifier[];
  notBefore?: string;
  notAfter?: string;
  error?: ProblemDocument;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  profile?: string;
  replaces?: string;
  [field: string]: unknown;
}

/** Authorization status. */
export type AuthorizationStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";

/** An authorization object with its URL. */
export interface AcmeAuthorization {
  url: string;
  identifier: AcmeIdentifier;
  status: AuthorizationStatus;
  expires?: string;
  challenges: AcmeChallenge[];
  wildcard?: boolean;
  [field: string]: unknown;
}

/** Challenge status. */
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";

/** A challenge object (its `url` is part of the RFC shape). */
export interface AcmeChallenge {
  type: string;
  url: string;
  status: ChallengeStatus;
  token?: string;
  validated?: string;
  error?: ProblemDocument;
  [field: string]: unknown;
}

/** A downloaded certificate chain. */
export interface CertificateChain {
  /** The PEM chain as sent (leaf first). */
  pem: string;
  /** URLs of alternate chains (`Link: <…>;rel="alternate"`), absolute. */
  alternates: string[];
}

/** RFC 9773 renewal information, parsed. */
export interface RenewalInfo {
  suggestedWindow: { start: Date; end: Date };
  explanationURL?: string;
  /** When to ask again: the CA's `Retry-After` clamped to [1 min, 1 day], or 6 h when absent/invalid. */
  retryAfter: Date;
}

/** Revocation reason codes (RFC 5280 §5.3.1) that ACME CAs accept. */
export const REVOCATION_REASON = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
