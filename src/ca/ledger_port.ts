/**
 * The rate-limit ledger's contract: the CA's limits (and each auth block's budget), kept by acmems and checked
 * before the CA is called, so one host cannot spend the budget of the whole fleet (issue 15).
 *
 * Contract:
 * - `admit` is atomic per limit: when it answers `ok`, the order has been counted in every window that applies
 *   (per CA: orders per account, certificates per registered domain, per exact set of names; per auth block: the
 *   block's budget, per block and per client address). Two instances sharing a PostgreSQL storage never admit more
 *   than a limit in total.
 * - An intent with `replaces` (an ARI renewal) is counted but never refused by a CA limit (as at Let's Encrypt).
 * - A refusal names the limit (`limit`, e.g. `limit-orders = 2/1h (CA "pebble-a")`), when a slot frees
 *   (`retryAfterSeconds`, ≥ 1) and, for a paused account–name pair, the CA's unpause URL.
 * - `scope: "ca"` refusals mean "try the next CA"; `scope: "block"` refusals end the request (429) whatever the CA.
 * - `ticket.cancel()` gives the counted slots back when the CA was never reached (unreachable before the order
 *   was placed); an order the CA received stays counted.
 * - The ledger never throws for an over-budget intent; it throws only when its storage fails.
 * - Every time comes from the injected clock.
 */

/** `N/window`, e.g. `300/3h`: at most `count` events in any `windowSeconds` long sliding window. */
export interface RateLimit {
  count: number;
  windowSeconds: number;
  /** As written in the config (`300/3h`), for messages. */
  text: string;
}

/** A CA's limits, from `[account]` / `[ca "name"]` (or built in for Let's Encrypt's directory URLs). */
export interface CaLimits {
  /** `rate-limits = off`: no CA limit is kept for this CA (orders are still counted for /metrics). */
  off: boolean;
  /** `limit-orders`: new orders per account. */
  orders?: RateLimit;
  /** `limit-registered-domain`: certificates per registered domain (Public Suffix List). */
  registeredDomain?: RateLimit;
  /** `limit-exact-set`: certificates per exact set of names. */
  exactSet?: RateLimit;
  /** `limit-failed-authorizations`: failed authorizations per name per account. */
  failedAuthorizations?: RateLimit;
}

/** One order acmems is about to place at one CA. */
export interface OrderIntent {
  /** The CA's name (`default` for `[account]`). */
  ca: string;
  /** Names (and IP identifiers) of the order, lower case. */
  names: readonly string[];
  /** ARI renewal: counted, never refused by a CA limit. */
  replaces?: string;
  /** The auth block that admitted the request (absent for background renewals). */
  block?: string;
  /** The client address the block saw (absent for background renewals). */
  client?: string;
}

export interface LedgerTicket {
  /** Gives the counted slots back (the CA was never reached). Idempotent. */
  cancel(): Promise<void>;
}

export type Admission =
  | { ok: true; ticket: LedgerTicket }
  | {
    ok: false;
    /** `ca`: try the next CA; `block`: the auth block's own budget is spent, answer 429. */
    scope: "ca" | "block";
    retryAfterSeconds: number;
    /** Which limit said no, for logs, metrics (`reason`) and the 429 body. */
    limit: string;
    detail: string;
    unpauseUrl?: string;
  };

/** One line of `/metrics` and of the operator page: what is left of one limit. */
export interface BudgetLine {
  /** CA name, or `block:NAME` for an auth block's budget. */
  owner: string;
  /** `orders`, `registered-domain`, `exact-set`, `failed-authorizations`, `block-orders`, `block-client-orders`. */
  limit: string;
  /** The counted key within the limit (registered domain, names, client address), empty for per-account limits. */
  key: string;
  max: number;
  remaining: number;
}

export interface Ledger {
  /** Checks every limit that applies to `intent` and, when all allow it, counts it (atomically). */
  admit(intent: OrderIntent): Promise<Admission>;
  /** A failed authorization for `name` at `ca` (counts toward `limit-failed-authorizations`). */
  noteFailedAuthorization(ca: string, name: string): Promise<void>;
  /**
   * The CA answered 429 (rateLimited) or paused the account–name pair: no order for these names goes to `ca` until
   * `retryAfterSeconds` from now. `unpauseUrl` when the CA gave one.
   */
  noteRateLimited(
    ca: string,
    names: readonly string[],
    retryAfterSeconds: number,
    detail: string,
    unpauseUrl?: string,
  ): Promise<void>;
  /** What is left of every configured limit now (for /metrics, the operator page and `acmems status`). */
  budget(): Promise<BudgetLine[]>;
}

/** A ledger that admits everything and keeps nothing (tests, and until the real one is wired). */
export const UNLIMITED_LEDGER: Ledger = {
  admit: () => Promise.resolve({ ok: true, ticket: { cancel: () => Promise.resolve() } }),
  noteFailedAuthorization: () => Promise.resolve(),
  noteRateLimited: () => Promise.resolve(),
  budget: () => Promise.resolve([]),
};
