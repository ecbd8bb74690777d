/**
 * Background renewal: one pass over every storage's entries, run periodically by the server.
 *
 * Contract:
 * - Each entry is planned (src/renewal/plan.ts): refresh ARI where its Retry-After passed, renew due entries a
 *   client fetched within `renew-active-days`, remove entries nobody fetched that expired more than 7 days ago.
 * - What happens to an entry is what `planRenewal` says; the sweep only carries it out.
 * - Before an entry is renewed (or its ARI refreshed, its gauges set, `expiring` sent) the CURRENT config must still
 *   admit it (src/renewal/admission.ts: its recorded `[auth]` block, the names, verification and storage): write
 *   access to the storage must not be the power to get certificates for any name, and a name removed from the config
 *   must not be renewed on. A refused entry is left as it is (to expire, then be removed as unfetched) and logged once
 *   per reason (again after a reload); it is not a renewal failure: no backoff, no `renewal-failed`. An entry
 *   `claimDue` handed out and the policy refuses is released at once.
 * - A storage shared by several instances hands each entry the plan says `renew` for to one of them (`claimDue`,
 *   which plans with the same function), so instances sweeping at the same time split the work instead of
 *   queueing behind each other; the pass over every key then only refreshes ARI, removes and checks expiry.
 * - A renewal joins an order already running for the key (a /sign of the same CSR) instead of ordering again;
 *   whoever started the order records its failure.
 * - A failed renewal is counted, told to the notifiers (`renewal-failed`) and backs off (1 min, 10 min, 100 min,
 *   then daily), recorded in the entry unless another instance stored a fresher certificate meanwhile.
 * - With several CAs, entries of every configured CA are renewed (each CA's `claimDue` scope in turn), each by its
 *   block's CAs in order of preference (src/issuance/flights.ts); entries of a CA no longer configured are not.
 * - The sweep never throws; what it could not do, the next pass tries again.
 */
import { decodePem } from "../acme/mod.ts";
import type { AuthBlock } from "../config/types.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import type { AriTracker } from "../issuance/ari.ts";
import { countClaim, updateEntry } from "../issuance/claims.ts";
import type { FailureClassifier } from "../issuance/classify.ts";
import { newErrorId } from "../issuance/failure.ts";
import type { Coordinator } from "../issuance/coordinator.ts";
import type { Flights } from "../issuance/flights.ts";
import { noteCertificate } from "../issuance/gauges.ts";
import type { IssueRequest, OnIssueEvent } from "../issuance/request.ts";
import type { KeptResults } from "../issuance/results.ts";
import { type CacheKey, type Claim, type Entry, isHeld, type Storage } from "../storage/mod.ts";
import { type Admission, admitStoredEntry } from "./admission.ts";
import { renewalBackoffMs, renewalDue } from "./due.ts";
import type { ExpiringCheck } from "./expiring.ts";
import { type PlanInput, planRenewal } from "./plan.ts";

export interface SweepStats {
  renewed: number;
  failed: number;
  removed: number;
  /** Entries the current config does not admit (not renewed). */
  refused: number;
}

export interface SweepOptions {
  /**
   * The CAs (src/issuance/flights.ts): a due entry is renewed by its block's CAs in order of preference, so a
   * certificate a fallback CA issued is renewed at the preferred CA once that one answers again.
   */
  flights: Flights;
  /** The default CA's directory URL. */
  directoryUrl: string;
  /** Configured storages by name. */
  storages?: Map<string, Storage>;
  /** Identifies this process in claims. */
  owner: string;
  /** The current config's `[auth]` blocks, in order: every entry is re-authorized against them before renewal. */
  auth: readonly AuthBlock[];
  log: Logger;
  metrics?: AcmemsMetrics;
  now: Clock;
  onEvent?: OnIssueEvent;
  coordinator: Coordinator;
  ari: AriTracker;
  expiring: ExpiringCheck;
  classifier: FailureClassifier;
  kept: KeptResults;
}

export class RenewalSweep {
  readonly #opts: SweepOptions;
  /** The refusal last logged, by storage and key (each is logged once per reason). */
  readonly #refused = new Map<string, string>();
  /** The entries refused in the current pass (`SweepStats.refused`), by storage and key. */
  #refusedNow = new Set<string>();

  constructor(opts: SweepOptions) {
    this.#opts = opts;
  }

  /** One pass over every storage (see the contract above). Never throws. */
  async sweep(): Promise<SweepStats> {
    const { log } = this.#opts;
    const stats: SweepStats = { renewed: 0, failed: 0, removed: 0, refused: 0 };
    this.#refusedNow = new Set();
    this.#opts.kept.prune();
    for (const storage of this.#opts.storages?.values() ?? []) {
      let keys: CacheKey[];
      try {
        keys = await storage.keys();
      } catch (error) {
        log.warn("renewal sweep cannot list the cache", { storage: storage.name, error: String(error) });
        continue;
      }
      for (const key of keys) {
        try {
          await this.#sweepOne(storage, key, stats, !storage.claimDue);
        } catch (error) {
          log.warn("renewal sweep error", { key, error: error instanceof Error ? error.message : String(error) });
        }
      }
      if (storage.claimDue) await this.#sweepDue(storage, stats);
      try {
        const pruned = await storage.prune?.();
        if (pruned) log.debug("old claims without a certificate pruned", { storage: storage.name, pruned });
      } catch (error) {
        log.warn("renewal sweep cannot prune old claims", { storage: storage.name, error: String(error) });
      }
    }
    stats.refused = this.#refusedNow.size;
    // Refusals alone do not make the line: they are logged once each (see #admit).
    if (stats.renewed + stats.failed + stats.removed > 0) log.info("renewal sweep", { ...stats });
    return stats;
  }

  /**
   * Renews what `claimDue` hands this instance, one entry at a time, until nothing due is left unclaimed. `claimDue`
   * claims only entries the plan says `renew` for; keys this pass already handled are excluded from it.
   */
  async #sweepDue(storage: Storage, stats: SweepStats): Promise<void> {
    const seen = new Set<CacheKey>();
    // One scope per CA: claimDue plans with the entry's own CA.
    for (const directoryUrl of this.#opts.flights.directoryUrls) {
      await this.#sweepDueAt(storage, stats, directoryUrl, seen);
    }
  }

  async #sweepDueAt(storage: Storage, stats: SweepStats, directoryUrl: string, seen: Set<CacheKey>): Promise<void> {
    const { coordinator, metrics, flights } = this.#opts;
    const leaseMs = storage.leaseMs ?? 60_000;
    for (let round = 0; round < 10_000; round++) {
      if (!flights.anyAvailable()) return; // No CA available: the next sweep tries again.
      // claimDue plans with this reading of the clock; the sweep carries out the same plan.
      const input: PlanInput = { ...this.#planInput(storage), directoryUrl, ariChecked: true };
      let batch;
      try {
        const scope = { directoryUrl, exclude: [...seen] };
        batch = await storage.claimDue!(this.#opts.owner, leaseMs, input.now, 1, scope);
      } catch (error) {
        this.#opts.log.warn("renewal sweep cannot claim due entries", {
          storage: storage.name,
          error: error instanceof Error ? error.message : String(error),
        });
        return;
      }
      if (batch.length === 0) return;
      for (const { claim, entry } of batch) {
        metrics?.storageClaims.inc({ storage: storage.name, result: "won" });
        const plan = planRenewal(entry, input);
        const again = seen.has(claim.key);
        seen.add(claim.key);
        // Planned otherwise (a claimDue that ignores the plan), handled already this pass, a local /sign orders it
        // right now (left to that order), or the config does not admit it: released at once, and excluded from
        // claimDue for the rest of the pass.
        if (plan.action !== "renew" || again || coordinator.running(claim.key)) {
          await storage.release(claim);
          continue;
        }
        const admission = this.#admit(storage, claim.key, entry);
        if (!admission.ok) {
          await storage.release(claim);
          continue;
        }
        noteCertificate(metrics, claim.key, entry, plan.due);
        await this.#renew(storage, claim.key, entry, admission.block.name, stats, claim);
      }
    }
  }

  /** The plan's inputs for `storage` at the sweep's clock. */
  #planInput(storage: Storage, entry?: Entry): PlanInput {
    // An entry of any configured CA is renewed; one of a CA no longer configured is `other-ca`.
    const own = entry && this.#opts.flights.endpointFor(entry.directoryUrl) ? entry.directoryUrl : undefined;
    return {
      now: this.#opts.now(),
      directoryUrl: own ?? this.#opts.directoryUrl,
      renewWithinDays: storage.renewWithinDays,
      renewActiveDays: storage.renewActiveDays,
    };
  }

  /** Plans one entry and carries the plan out; `renew` false leaves renewals to `claimDue`. */
  async #sweepOne(storage: Storage, key: CacheKey, stats: SweepStats, renew: boolean): Promise<void> {
    const entry = await storage.get(key);
    if (!entry) return;
    const input = this.#planInput(storage, entry);
    const now = input.now;
    const first = planRenewal(entry, input);
    if (first.action === "remove") return await this.#remove(storage, key, entry, stats);
    if (first.action === "skip" && (first.reason === "inactive" || first.reason === "other-ca")) return;
    const admission = this.#admit(storage, key, entry);
    if (!admission.ok) return;
    if (first.action === "refresh-ari") await this.#opts.ari.refresh(storage, key);
    const current = (await storage.get(key)) ?? entry;
    // It may have changed meanwhile (the ARI refresh, another instance, a write to the storage): checked again.
    const admitted = this.#admit(storage, key, current);
    if (!admitted.ok) return;
    const plan = planRenewal(current, { ...input, ariChecked: true });
    if (!("due" in plan)) return;
    noteCertificate(this.#opts.metrics, key, current, plan.due);
    await this.#opts.expiring.check(storage, key, current, now);
    if (plan.action !== "renew" || !renew) return;
    if (!this.#opts.flights.anyAvailable()) return; // No CA available: the next sweep tries again.
    await this.#renew(storage, key, current, admitted.block.name, stats);
  }

  /** The current config's word on a stored entry; a refusal is noted for the pass, logged once per entry and reason. */
  #admit(storage: Storage, key: CacheKey, entry: Entry): Admission {
    const admission = admitStoredEntry(this.#opts.auth, entry, storage.name);
    const id = `${storage.name}\u0000${key}`;
    if (admission.ok) {
      this.#refused.delete(id);
      return admission;
    }
    this.#refusedNow.add(id);
    if (this.#refused.get(id) === admission.reason) return admission;
    if (this.#refused.size >= 10_000) this.#refused.clear();
    this.#refused.set(id, admission.reason);
    this.#opts.log.warn("stored certificate not renewed: the current config does not admit it", {
      storage: storage.name,
      key,
      names: Array.isArray(entry.names) ? entry.names.map(String) : [],
      block: entry.block ?? null,
      reason: admission.reason,
    });
    return admission;
  }

  /** Removes an entry nobody fetched that expired long ago (skipped when someone holds it). */
  async #remove(storage: Storage, key: CacheKey, entry: Entry, stats: SweepStats): Promise<void> {
    const leaseMs = storage.leaseMs ?? 60_000;
    const claim = countClaim(this.#opts.metrics, storage, await storage.claim(key, this.#opts.owner, leaseMs));
    if (isHeld(claim)) return;
    try {
      await storage.remove(claim);
      stats.removed++;
      this.#opts.log.info("expired cache entry removed", { names: entry.names, notAfter: entry.notAfter });
    } finally {
      await storage.release(claim);
    }
  }

  /**
   * Renews one due entry that `block` admits (under `claim` when the sweep already holds it); failures back off.
   * The renewed entry records `block` (an entry of an older version gets the block that admits it now).
   */
  async #renew(
    storage: Storage,
    key: CacheKey,
    current: Entry,
    block: string,
    stats: SweepStats,
    claim?: Claim,
  ): Promise<void> {
    const { flights } = this.#opts;
    const request: IssueRequest = {
      csrDer: decodePem(current.csr, ["CERTIFICATE REQUEST"]).der,
      csrSha256: "",
      names: current.names,
      profile: current.profile,
      verification: current.verification,
      storage: storage.name,
      block,
    };
    const choices = await flights.choices(request);
    let running = flights.running([key, ...choices.map((c) => c.key)]);
    // Whoever starts the order records its failure (a /sign that started it already does).
    const created = !running;
    if (running && claim) {
      await storage.release(claim);
      claim = undefined;
    }
    // The block's CAs in order of preference: the preferred CA first, even for a certificate a fallback issued.
    running ??= flights.start(request, storage, choices, new Map([[key, current]]), { key, entry: current, claim });
    try {
      await running;
      stats.renewed++;
      this.#opts.metrics?.renewals.inc({ result: "ok" });
    } catch (error) {
      stats.failed++;
      if (created) await this.renewalFailed(storage, key, current, request, error);
    }
  }

  /** A renewal failed: count it, tell the notifiers, and record the backoff (1 min, 10 min, 100 min, then daily). */
  async renewalFailed(
    storage: Storage,
    key: CacheKey,
    current: Entry,
    request: IssueRequest,
    error: unknown,
  ): Promise<void> {
    const { metrics, now } = this.#opts;
    metrics?.renewals.inc({ result: "failed" });
    const failure = this.#opts.classifier.classify(error, request.names);
    const reason = failure.message;
    // The id ties the entry's record (operator page, acmems status) to this failure's log line.
    const errorId = failure.errorId ?? newErrorId();
    this.#opts.onEvent?.("renewal-failed", {
      names: current.names,
      message: `Renewal failed; retrying with backoff: ${reason}`,
      notAfter: current.notAfter,
    });
    await updateEntry(this.#opts, storage, key, (e) => {
      // Another instance stored a fresh certificate meanwhile: this failure is not that certificate's.
      if (e.chain !== current.chain) return Promise.resolve(false);
      const failures = (e.renewal?.failures ?? 0) + 1;
      e.renewal = {
        ...e.renewal,
        failures,
        lastError: reason,
        lastErrorId: errorId,
        lastFailureAt: now().toISOString(),
        nextAttemptAt: new Date(now().getTime() + renewalBackoffMs(failures)).toISOString(),
      };
      noteCertificate(metrics, key, e, renewalDue(e, storage.renewWithinDays, now()));
      return Promise.resolve(true);
    });
    this.#opts.log.warn("background renewal failed", { names: current.names, reason, errorId });
  }
}
