/**
 * Prometheus metrics: a small registry and the text exposition format (version 0.0.4).
 *
 * Written here rather than taken from npm: prom-client, the usual package, is built around Node's process and
 * cluster modules and pulls in more than the ~150 lines a counter, a histogram and callback gauges need.
 */

import type { BudgetLine } from "../ca/ledger_port.ts";
import { RecentMap } from "../lib/recent_map.ts";

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  if (!value.includes("\\") && !value.includes("\n") && !value.includes('"')) return value;
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `{k="v",…}` (empty without labels); the series key of counters and histograms (called per increment). */
function labelText(labels: Labels): string {
  let text = "";
  for (const key in labels) {
    if (!Object.hasOwn(labels, key)) continue;
    text += `${text === "" ? "{" : ","}${key}="${escapeLabel(labels[key])}"`;
  }
  return text === "" ? "" : text + "}";
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

interface Metric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

export class Counter implements Metric {
  readonly type = "counter";
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const current = this.#values.get(key);
    if (current) current.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }

  /** An increment for fixed labels, with the label text computed once (for hot paths). */
  bind(labels: Labels): (by?: number) => void {
    const key = labelText(labels);
    return (by = 1) => {
      const current = this.#values.get(key);
      if (current) current.value += by;
      else this.#values.set(key, { labels, value: by });
    };
  }

  render(): string[] {
    return [...this.#values.values()].map((v) => `${this.name}${labelText(v.labels)} ${formatNumber(v.value)}`);
  }
}

export class Histogram implements Metric {
  readonly type = "histogram";
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}

  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    this.buckets.forEach((bound, i) => {
      if (value <= bound) series.counts[i]++;
    });
    series.sum += value;
    series.count++;
  }

  render(): string[] {
    const lines: string[] = [];
    for (const s of this.#series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: formatNumber(bound) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${formatNumber(s.sum)}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** A gauge whose samples are computed when scraped. */
export class CallbackGauge implements Metric {
  readonly type = "gauge";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly collect: () => { labels: Labels; value: number }[],
  ) {}

  render(): string[] {
    return this.collect().map((s) => `${this.name}${labelText(s.labels)} ${formatNumber(s.value)}`);
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];
  /** Asynchronous sources read before a scrape (`refresh`). */
  readonly #refreshers: (() => Promise<void>)[] = [];

  /** Adds work `refresh` runs before rendering (e.g. reading the rate-limit ledger from its storage). */
  onRefresh(refresh: () => Promise<void>): void {
    this.#refreshers.push(refresh);
  }

  /** Runs the refreshers (each bounded by `timeoutMs`; a failure or a timeout keeps the last values). */
  async refresh(timeoutMs = 2_000): Promise<void> {
    await Promise.all(this.#refreshers.map(async (refresh) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const work = refresh().catch(() => {});
      await Promise.race([work, new Promise<void>((resolve) => timer = setTimeout(resolve, timeoutMs))]);
      clearTimeout(timer);
    }));
  }

  register<T extends Metric>(metric: T): T {
    this.#metrics.push(metric);
    return metric;
  }

  /** The text exposition format. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics) {
      lines.push(`# HELP ${metric.name} ${metric.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${metric.name} ${metric.type}`);
      lines.push(...metric.render());
    }
    return lines.join("\n") + "\n";
  }
}

/** What acmems measures. One instance per process; passed to whoever records. */
export class AcmemsMetrics {
  readonly registry = new Registry();
  readonly signRequests = this.registry.register(
    new Counter("acmems_sign_requests_total", "POST /sign requests by HTTP status and auth block."),
  );
  readonly issuanceSeconds = this.registry.register(
    new Histogram("acmems_issuance_duration_seconds", "Time from new order to downloaded certificate.", [
      0.1,
      0.25,
      0.5,
      1,
      2.5,
      5,
      10,
      30,
      60,
      120,
      300,
    ]),
  );
  readonly acmeRequests = this.registry.register(
    new Counter("acmems_acme_requests_total", "Requests to the ACME CA by endpoint and HTTP status."),
  );
  readonly challengeAnswers = this.registry.register(
    new Counter("acmems_challenge_requests_total", "http-01 challenge requests by result (served, 404)."),
  );
  readonly cacheRequests = this.registry.register(
    new Counter("acmems_cache_requests_total", "Certificate cache lookups by result (hit, miss, stale)."),
  );
  readonly dnsUpdateFailures = this.registry.register(
    new Counter("acmems_dns_update_failures_total", "Failed RFC 2136 DNS updates by verification."),
  );
  readonly renewals = this.registry.register(
    new Counter("acmems_renewals_total", "Background renewals by result (ok, failed)."),
  );
  readonly caFailovers = this.registry.register(
    new Counter(
      "acmems_ca_failover_total",
      "Orders that went on to the next CA of the auth block's ca = list, by CA left (from), CA tried next (to) and " +
        "reason (unavailable, rate-limit, caa, rejected-identifier, unsupported-identifier).",
    ),
  );
  readonly notifications = this.registry.register(
    new Counter("acmems_notifications_total", "Notifications sent by notifier and result (ok, failed)."),
  );
  readonly storageClaims = this.registry.register(
    new Counter(
      "acmems_storage_claims_total",
      "Storage claims by storage and result: won (this instance may order), lost (another holder had it: wait " +
        "for its result), expired (a claim ended before its order did: lease deadline passed or taken over).",
    ),
  );
  readonly storageFencedWrites = this.registry.register(
    new Counter(
      "acmems_storage_fenced_writes_total",
      "Writes refused because another instance took the key over (postgres), by storage and operation.",
    ),
  );
  readonly memoryTrims = this.registry.register(
    new Counter(
      "acmems_memory_trims_total",
      "Idle trims: memory given back after a burst of load (a memory-reducing GC and malloc_trim; src/ops/idle_trim.ts).",
    ),
  );
  readonly storageNotifications = this.registry.register(
    new Counter("acmems_storage_notifications_total", "Change notifications received from a shared storage."),
  );
  readonly storageErrors = this.registry.register(
    new Counter(
      "acmems_storage_errors_total",
      "Database errors by storage and kind (unavailable: connection, timeout, shutdown; query: anything else).",
    ),
  );
  /** dns-persist-01 records by `verification|owner`: their persistUntil (Unix s; +Inf: none). */
  readonly persistRecords = new RecentMap<string, { verification: string; owner: string; persistUntil: number }>();
  /** What is left of every rate limit and budget (src/ca/ledger.ts), read from `budgetSource` before each scrape. */
  budget: BudgetLine[] = [];
  /** The ledger in force (set by each generation). */
  budgetSource: (() => Promise<BudgetLine[]>) | undefined;
  /** Per cache entry (by cache key), kept up to date by the issuer (bounded); exposed per primary name. */
  readonly certificates = new RecentMap<string, CertificateSample>();

  constructor() {
    const gauge = (name: string, help: string, pick: (s: CertificateSample) => number | undefined) =>
      this.registry.register(
        new CallbackGauge(name, help, () =>
          latestPerName(this.certificates.values())
            .filter((s) => pick(s) !== undefined)
            .map((s) => ({ labels: { name: s.name }, value: pick(s)! }))),
      );
    gauge(
      "acmems_certificate_not_after_seconds",
      "notAfter of each cached certificate (Unix time).",
      (s) => s.notAfter,
    );
    gauge("acmems_certificate_renewal_due_seconds", "When each cached certificate is due (Unix time).", (s) => s.dueAt);
    gauge(
      "acmems_certificate_last_fetch_seconds",
      "When a client last fetched each certificate (Unix time).",
      (s) => s.lastFetch,
    );
    gauge(
      "acmems_certificate_last_renewal_failure_seconds",
      "When the last background renewal of each certificate failed (Unix time).",
      (s) => s.lastRenewalFailure,
    );
    this.registry.register(
      new CallbackGauge(
        "acmems_dns_persist_until_seconds",
        "persistUntil of each dns-persist-01 record acmems relies on, by verification and owner (Unix time; " +
          "+Inf: the record does not end).",
        () =>
          [...this.persistRecords.values()].map((r) => ({
            labels: { verification: r.verification, owner: r.owner },
            value: r.persistUntil,
          })),
      ),
    );
    this.registry.onRefresh(() => this.refreshBudget());
    this.registry.register(
      new CallbackGauge(
        "acmems_rate_limit_remaining",
        "What is left of each rate limit kept by the ledger: by CA and limit (orders, registered-domain, exact-set, " +
          "failed-authorizations; the tightest registered domain, set or name), and by auth block and limit " +
          "(block-orders, block-client-orders: the tightest client).",
        () => budgetSamples(this.budget, (line) => line.remaining),
      ),
    );
    this.registry.register(
      new CallbackGauge(
        "acmems_rate_limit_max",
        "The size of each rate limit kept by the ledger (events per window), labelled like acmems_rate_limit_remaining.",
        () => budgetSamples(this.budget, (line) => line.max),
      ),
    );
  }

  /** Reads the ledger's budget now (also done before each scrape). */
  async refreshBudget(): Promise<void> {
    if (this.budgetSource) this.budget = await this.budgetSource();
  }

  /** Records a dns-persist-01 record's persistUntil (at most `limit` records are kept, newest first). */
  notePersistRecord(verification: string, owner: string, persistUntil: number | undefined, limit = 1000): void {
    const key = `${verification}|${owner}`;
    this.persistRecords.note(key, { verification, owner, persistUntil: persistUntil ?? Infinity }, limit);
  }

  /** Records a cache entry's times (at most `limit` entries are kept, newest first). */
  noteCertificate(key: string, sample: CertificateSample, limit = 1000): void {
    this.certificates.note(key, sample, limit);
  }
}

/**
 * One sample per owner and limit (the tightest key): `{ca, limit}` for a CA, `{block, limit}` for an auth block.
 */
export function budgetSamples(
  lines: readonly BudgetLine[],
  pick: (line: BudgetLine) => number,
): { labels: Labels; value: number }[] {
  const tightest = new Map<string, BudgetLine>();
  for (const line of lines) {
    const key = `${line.owner}\u0000${line.limit}`;
    const kept = tightest.get(key);
    if (!kept || line.remaining < kept.remaining) tightest.set(key, line);
  }
  return [...tightest.values()].map((line): { labels: Labels; value: number } => ({
    labels: line.owner.startsWith("block:")
      ? { block: line.owner.slice("block:".length), limit: line.limit }
      : { ca: line.owner, limit: line.limit },
    value: pick(line),
  }));
}

/**
 * One sample per primary name: several cache entries (CSRs with other keys or other further names) can share a first
 * name, and Prometheus needs one series per label set. The entry with the latest notAfter stands for the name.
 */
export function latestPerName(samples: Iterable<CertificateSample>): CertificateSample[] {
  const byName = new Map<string, CertificateSample>();
  for (const sample of samples) {
    const kept = byName.get(sample.name);
    if (!kept || sample.notAfter > kept.notAfter) byName.set(sample.name, sample);
  }
  return [...byName.values()];
}

export interface CertificateSample {
  /** The entry's primary (first) name. */
  name: string;
  notAfter: number;
  dueAt?: number;
  lastFetch?: number;
  lastRenewalFailure?: number;
}

/** Names an ACME request for the `endpoint` label (CAs use different paths; this covers Boulder and pebble). */
export function acmeEndpoint(url: string, method: string): string {
  const path = (() => {
    try {
      return new URL(url).pathname.toLowerCase();
    } catch {
      return "";
    }
  })();
  if (/renewal-?info/.test(path)) return "renewalInfo";
  if (/nonce/.test(path)) return "newNonce";
  if (/new-?order|order-plz/.test(path)) return "newOrder";
  if (/new-?acc|new-?reg|sign-me-up/.test(path)) return "newAccount";
  if (/finalize/.test(path)) return "finalize";
  if (/authz/.test(path)) return "authorization";
  if (/chal/.test(path)) return "challenge";
  if (/revoke/.test(path)) return "revokeCert";
  if (/key-?change|rollover/.test(path)) return "keyChange";
  if (/cert/.test(path)) return "certificate";
  if (/order/.test(path)) return "order";
  if (/acct|account|reg/.test(path)) return "account";
  if (method === "GET") return "directory";
  return "other";
}
