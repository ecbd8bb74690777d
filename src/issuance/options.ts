/**
 * What the issuance service is built from (src/issuance/service.ts): the CAs, solvers, storages, policy, clock and
 * the hooks metrics, notifications, the operator page and the fault tests use.
 */
import type { AcmeClient } from "../acme/mod.ts";
import type { Ledger } from "../ca/ledger_port.ts";
import type { CaEndpoint } from "../ca/registry.ts";
import type { ChallengeSolver } from "../challenges/solver.ts";
import type { AuthBlock } from "../config/types.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import type { PersistRecords } from "../renewal/expiring.ts";
import type { CacheKey, Storage } from "../storage/mod.ts";
import type { IssuanceFaults } from "./order.ts";
import type { OnIssueEvent } from "./request.ts";

export interface IssuanceOptions {
  /** The default CA's connected ACME client, or throws CaUnavailableError. */
  client(): AcmeClient;
  /** The default CA's directory URL. */
  directoryUrl: string;
  /**
   * Every configured CA (src/ca/registry.ts), the default first; a request goes to its block's `ca =` list in
   * order (failover: src/ca/failover.ts). Default: one CA, `default`, from `client` and `directoryUrl`.
   */
  cas?: readonly CaEndpoint[];
  /** The CA of auth blocks without `ca =` (default: the first of `cas`). */
  defaultCa?: string;
  /** The rate-limit ledger asked before each order (src/ca/ledger_port.ts); default: admits everything. */
  ledger?: Ledger;
  solvers: Map<string, ChallengeSolver>;
  /** Configured storages by name. */
  storages?: Map<string, Storage>;
  /**
   * The config's `[auth]` blocks, in order: background renewal renews a stored entry only while they admit it
   * (src/renewal/admission.ts). Default none: nothing is renewed in the background.
   */
  auth?: readonly AuthBlock[];
  log: Logger;
  /** Identifies this process in claims. */
  owner?: string;
  /** Upper bound of one order in the background (default 10 min). */
  orderTimeoutMs?: number;
  /** How long a finished result is kept in memory for the client's retry (default 10 min). */
  resultTtlMs?: number;
  /** Retry-After suggested after a timeout or CA outage (default 10 s). */
  retryAfterSeconds?: number;
  /** Replaces the clock (tests). */
  now?: Clock;
  /** Called for each ACME order placed (metrics, tests). */
  onOrder?: (names: string[], replaces: string | undefined) => void;
  metrics?: AcmemsMetrics;
  /** Called when the CA says the account does not exist (the session reconnects). */
  onAccountLost?: (reason: string) => Promise<void> | void;
  /**
   * Called when the CA refuses the account key's signature (src/issuance/key_refused.ts): re-reads the account key
   * (`acmems register --rollover-key` may have replaced it) and resolves true when another key is now in use.
   */
  onKeyRefused?: () => Promise<boolean>;
  /** Operator notifications (issue-failed with its failure `kind`, renewal-failed, expiring). */
  onEvent?: OnIssueEvent;
  /** Days before notAfter when `expiring` fires for a certificate without a successful renewal; unset: never. */
  expiringDays?: number;
  /** The dns-persist-01 records' persistUntil, for `expiring` (src/challenges/dns_persist01/watch.ts). */
  persistRecords?: PersistRecords;
  /** Fault injection points (tests kill an instance there). */
  faults?: IssuanceFaults;
  /** Called when a request got its certificate from (or stored into) a storage: who fetched it (operator page). */
  onFetch?: (fetch: { storage: string; key: CacheKey; at: Date; block?: string; client?: string }) => void;
}
