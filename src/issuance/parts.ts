/**
 * The parts of the issuance service (src/issuance/service.ts), built and wired from its options in one place: kept
 * results, failure classification and notices, ARI, the per-key coordinator, flights over the CAs, the renewal sweep.
 */
import { UNLIMITED_LEDGER } from "../ca/ledger_port.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import { ExpiringCheck } from "../renewal/expiring.ts";
import { RenewalSweep } from "../renewal/sweep.ts";
import type { NoneStorage } from "../storage/none.ts";
import { AriTracker } from "./ari.ts";
import { FailureClassifier } from "./classify.ts";
import { Coordinator } from "./coordinator.ts";
import { clientAt, Flights } from "./flights.ts";
import { FailureNotices } from "./failure_notice.ts";
import { OrderDriver } from "./order.ts";
import { KeptResults } from "./results.ts";
import type { IssuanceOptions } from "./options.ts";

export interface IssuanceParts {
  now: Clock;
  kept: KeptResults;
  classifier: FailureClassifier;
  notices: FailureNotices;
  ari: AriTracker;
  coordinator: Coordinator;
  flights: Flights;
  renewal: RenewalSweep;
}

/** `none`: the service's null cache (the coordinator's local storage); `track`: its background work. */
export function buildIssuanceParts(
  opts: IssuanceOptions,
  none: NoneStorage,
  track: (promise: Promise<unknown>) => void,
): IssuanceParts {
  const now = opts.now ?? systemClock;
  const owner = opts.owner ?? `${Deno.hostname()}:${Deno.pid}`;
  const { log, metrics } = opts;
  const kept = new KeptResults(now, opts.resultTtlMs ?? 600_000);
  const classifier = new FailureClassifier({
    log,
    now,
    retryAfterSeconds: opts.retryAfterSeconds,
    onAccountLost: opts.onAccountLost,
  });
  const notices = new FailureNotices(classifier, now, opts.onEvent);
  const { client, directoryUrl, onAccountLost: accountLost } = opts;
  const cas = opts.cas ?? [{ name: "default", client, directoryUrl, accountLost }];
  // ARI is asked of the CA that issued the certificate.
  const byUrl = (url: string) => clientAt(cas, url);
  const ari = new AriTracker({ client: byUrl, log, metrics, now, owner, track });
  const orders = new OrderDriver({
    directoryUrl: opts.directoryUrl,
    solvers: opts.solvers,
    log,
    now,
    retryAfterSeconds: opts.retryAfterSeconds,
    onOrder: opts.onOrder,
    faults: opts.faults,
  });
  const coordinator = new Coordinator({
    owner,
    log,
    metrics,
    now,
    orderTimeoutMs: opts.orderTimeoutMs,
    orders,
    ari: ari,
    kept: kept,
    local: none,
  });
  const flights = new Flights({
    cas,
    defaultCa: opts.defaultCa ?? cas[0].name,
    auth: opts.auth ?? [],
    ledger: opts.ledger ?? UNLIMITED_LEDGER,
    log,
    metrics,
    now,
    owner,
    coordinator: coordinator,
    classifier: classifier,
  });
  const renewal = new RenewalSweep({
    flights: flights,
    directoryUrl: opts.directoryUrl,
    storages: opts.storages,
    owner,
    auth: opts.auth ?? [],
    log,
    metrics,
    now,
    onEvent: opts.onEvent,
    coordinator: coordinator,
    ari: ari,
    expiring: new ExpiringCheck({
      owner,
      log,
      metrics,
      onEvent: opts.onEvent,
      expiringDays: opts.expiringDays,
      persist: opts.persistRecords,
    }),
    classifier: classifier,
    kept: kept,
  });
  return { now, kept, classifier, notices, ari, coordinator, flights, renewal };
}
