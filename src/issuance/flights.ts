/**
 * A flight: the one order for one CSR and auth block, across the block's CAs (`ca = le, gts`, src/ca/failover.ts).
 *
 * Contract:
 * - `choices(request)` gives the block's CAs in order of preference, each with the profile asked of it (the block's
 *   `profile`, else the CA's) and the cache key there (SHA-256 over that CA's directory URL, profile and CSR).
 * - `start` runs the order under the coordinator's claim loop at each CA in turn and is shared under every CA's key
 *   (and the renewed entry's): one order at a time for one CSR and block, whichever CA's entry a caller looks at.
 * - A renewal that landed at another CA than the renewed entry's supersedes that entry: it is removed (under its
 *   claim), so neither /sign nor the sweep renews it again. A claim the sweep handed in (`claimDue`) is used for the
 *   attempt at its own CA, or released at the end.
 * - ARI `replaces` is only the certificate of the same CA.
 */
import type { AcmeClient } from "../acme/mod.ts";
import type { AuthBlock } from "../config/types.ts";
import { FailoverFailure, orderWithFailover, type TriedCa } from "../ca/failover.ts";
import type { Ledger } from "../ca/ledger_port.ts";
import type { CaEndpoint } from "../ca/registry.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import { type CacheKey, cacheKey, type Claim, type Entry, isHeld, type Storage } from "../storage/mod.ts";
import type { FailureClassifier } from "./classify.ts";
import type { Coordinator, Obtained } from "./coordinator.ts";
import type { IssueRequest } from "./request.ts";

/** One CA of a request's chain, with the profile asked of it and the cache key there. */
export interface CaChoice {
  ca: CaEndpoint;
  profile?: string;
  key: CacheKey;
}

/** The cached entry a flight renews (with the claim the sweep already holds on it). */
export interface Renewing {
  key: CacheKey;
  entry: Entry;
  claim?: Claim;
}

export interface FlightOptions {
  /** Every configured CA, the default first. */
  cas: readonly CaEndpoint[];
  defaultCa: string;
  auth: readonly AuthBlock[];
  ledger: Ledger;
  log: Logger;
  metrics?: AcmemsMetrics;
  now: Clock;
  owner: string;
  coordinator: Coordinator;
  classifier: FailureClassifier;
}

/** The client of the CA whose directory is `url`; throws for an unknown directory or an unavailable CA. */
export function clientAt(cas: readonly CaEndpoint[], url: string): AcmeClient {
  const ca = cas.find((c) => c.directoryUrl === url);
  if (!ca) throw new Error(`No configured CA has the directory ${url}`);
  return ca.client();
}

export class Flights {
  readonly #opts: FlightOptions;
  readonly #byName: Map<string, CaEndpoint>;
  readonly #blocks = new Map<string, AuthBlock>();
  readonly #keys = new Map<string, CacheKey>();
  readonly #chains = new Map<string | undefined, readonly CaEndpoint[]>();

  constructor(opts: FlightOptions) {
    this.#opts = opts;
    this.#byName = new Map(opts.cas.map((ca) => [ca.name, ca]));
    for (const block of opts.auth) if (!this.#blocks.has(block.name)) this.#blocks.set(block.name, block);
  }

  /** The CA whose directory is `url` (an entry's issuer), if configured. */
  endpointFor(url: string): CaEndpoint | undefined {
    return this.#opts.cas.find((ca) => ca.directoryUrl === url);
  }

  /** Every configured CA's directory URL. */
  get directoryUrls(): string[] {
    return this.#opts.cas.map((ca) => ca.directoryUrl);
  }

  /** True when some CA could take an order now. */
  anyAvailable(): boolean {
    return this.#opts.cas.some((ca) => {
      try {
        ca.client();
        return true;
      } catch {
        return false;
      }
    });
  }

  #block(name: string | undefined): AuthBlock | undefined {
    // A map: this runs on every /sign cache hit. The first block of a name wins, as in config order.
    return name === undefined ? undefined : this.#blocks.get(name);
  }

  /**
   * When every CA of `choices` is unavailable now, the error to answer (one CA: its own; several: a
   * `FailoverFailure` naming each); undefined when one is available.
   */
  allUnavailable(choices: readonly CaChoice[], names: string[]): unknown {
    const tried: TriedCa[] = [];
    let last: unknown;
    for (const { ca } of choices) {
      try {
        ca.client();
        return undefined;
      } catch (error) {
        last = error;
        tried.push({
          ca: ca.name,
          reason: "unavailable",
          detail: error instanceof Error ? error.message : String(error),
        });
      }
    }
    if (choices.length < 2) return last;
    return new FailoverFailure(this.#opts.classifier.classify(last, names), tried);
  }

  /** The request's CAs in order of preference (its block's `ca =`, else the default CA). */
  chain(request: Pick<IssueRequest, "block">): readonly CaEndpoint[] {
    // The CAs and blocks of a Flights never change (a reload builds a new one): one chain per block name.
    let chain = this.#chains.get(request.block);
    if (!chain) this.#chains.set(request.block, chain = this.#chainOf(request.block));
    return chain;
  }

  #chainOf(name: string | undefined): CaEndpoint[] {
    const block = this.#block(name);
    const names: readonly string[] = block?.cas ?? [this.#opts.defaultCa];
    const chain = names.flatMap((name) => this.#byName.get(name) ?? []);
    return chain.length > 0 ? chain : [this.#byName.get(this.#opts.defaultCa) ?? this.#opts.cas[0]];
  }

  /** The chain with each CA's profile and cache key. */
  async choices(
    request: Pick<IssueRequest, "block" | "profile" | "requestedProfile" | "csrDer" | "csrSha256">,
  ): Promise<CaChoice[]> {
    const plan = this.#profiles(request);
    // One CA, the usual case: no Promise.all.
    if (plan.length === 1) {
      const [{ ca, profile }] = plan;
      return [{ ca, profile, key: await this.keyAt(ca.directoryUrl, profile, request) }];
    }
    return await Promise.all(
      plan.map(async ({ ca, profile }) => ({ ca, profile, key: await this.keyAt(ca.directoryUrl, profile, request) })),
    );
  }

  /**
   * `choices` without waiting, when every key is remembered already (a CSR seen before); undefined otherwise.
   * The same CAs, profiles and keys as `choices` gives.
   */
  choicesNow(
    request: Pick<IssueRequest, "block" | "profile" | "requestedProfile" | "csrSha256">,
  ): readonly CaChoice[] | undefined {
    if (!request.csrSha256) return undefined;
    const known = this.#choicesNow.get(request);
    if (known) return known;
    const out: CaChoice[] = [];
    for (const { ca, profile } of this.#profiles(request)) {
      const key = this.#keys.get(keyMemo(ca.directoryUrl, profile, request.csrSha256));
      if (key === undefined) return undefined;
      out.push({ ca, profile, key });
    }
    this.#choicesNow.set(request, out);
    return out;
  }

  /**
   * `choicesNow` by request object: /sign hands the same request for every exact repeat (src/http/admitted_repeats.ts)
   * and requests are never changed, while the CAs, blocks and keys of a Flights never change either. Shared: read only.
   */
  readonly #choicesNow = new WeakMap<object, CaChoice[]>();

  /**
   * The chain with each CA's profile. One CA (the default): the request's profile as the caller resolved it
   * (block's, else [account]'s); several: the one the client asked for (ACME front end), else the block's, else each
   * CA's own.
   */
  #profiles(
    request: Pick<IssueRequest, "block" | "profile" | "requestedProfile">,
  ): { ca: CaEndpoint; profile: string | undefined }[] {
    const chain = this.chain(request);
    const single = chain.length === 1 && chain[0].name === this.#opts.defaultCa;
    const block = single ? undefined : this.#block(request.block);
    return chain.map((ca) => ({
      ca,
      profile: !block ? request.profile : request.requestedProfile ?? block.profile ?? ca.profile,
    }));
  }

  /** The cache key at one CA (remembered by CSR hash when it is known). */
  async keyAt(
    directoryUrl: string,
    profile: string | undefined,
    request: Pick<IssueRequest, "csrDer"> & { csrSha256?: string },
  ): Promise<CacheKey> {
    if (!request.csrSha256) return await cacheKey(directoryUrl, profile, request.csrDer);
    const memo = keyMemo(directoryUrl, profile, request.csrSha256);
    let key = this.#keys.get(memo);
    if (key === undefined) {
      key = await cacheKey(directoryUrl, profile, request.csrDer);
      if (this.#keys.size >= 10_000) this.#keys.clear();
      this.#keys.set(memo, key);
    }
    return key;
  }

  /** The flight running for any of `keys`, if any. */
  running(keys: readonly CacheKey[]): Promise<Obtained> | undefined {
    for (const key of keys) {
      const order = this.#opts.coordinator.running(key);
      if (order) return order;
    }
    return undefined;
  }

  /** Starts the flight (the caller checked that none is running for these keys); see the contract. */
  start(
    request: IssueRequest,
    storage: Storage,
    choices: readonly CaChoice[],
    entries: ReadonlyMap<CacheKey, Entry | null>,
    renewing?: Renewing,
  ): Promise<Obtained> {
    const keys = [...new Set([...choices.map((c) => c.key), ...(renewing ? [renewing.key] : [])])];
    return this.#opts.coordinator.startFlight(keys, () => this.#fly(request, storage, choices, entries, renewing));
  }

  async #fly(
    request: IssueRequest,
    storage: Storage,
    choices: readonly CaChoice[],
    entries: ReadonlyMap<CacheKey, Entry | null>,
    renewing?: Renewing,
  ): Promise<Obtained> {
    const { coordinator, classifier, log, metrics, ledger, now } = this.#opts;
    let preclaimed = renewing?.claim;
    const byName = new Map(choices.map((c) => [c.ca.name, c]));
    try {
      const { value } = await orderWithFailover(
        choices.map((c) => c.ca),
        {
          names: request.names,
          replaces: (ca) => {
            const choice = byName.get(ca)!;
            const entry = entries.get(choice.key) ?? (renewing?.key === choice.key ? renewing.entry : null);
            return entry?.ari?.certId;
          },
          // A host's request counts toward its block's budget; a background renewal (no client) does not.
          ...(request.client !== undefined && request.block !== undefined
            ? { block: request.block, client: request.client }
            : {}),
        },
        {
          ledger,
          log,
          now,
          failovers: metrics?.caFailovers,
          classify: (error) => classifier.classify(error, request.names),
        },
        (ca, client, placed) => {
          const choice = byName.get(ca.name)!;
          let claim: Claim | undefined;
          if (preclaimed && choice.key === renewing?.key) {
            claim = preclaimed;
            preclaimed = undefined; // the coordinator releases it
          }
          const previous = entries.get(choice.key) ?? (renewing?.key === choice.key ? renewing.entry : null);
          return coordinator.obtain(
            client,
            { ...request, profile: choice.profile },
            storage,
            choice.key,
            previous,
            claim,
            { name: ca.name, directoryUrl: ca.directoryUrl, onPlaced: placed },
          );
        },
      );
      if (renewing && value.key !== renewing.key) {
        await this.#supersede(storage, renewing, preclaimed, value.entry);
        preclaimed = undefined;
      }
      return value;
    } finally {
      if (preclaimed) await storage.release(preclaimed);
    }
  }

  /** Removes the entry a renewal at another CA replaced (skipped when someone else holds it). */
  async #supersede(storage: Storage, renewing: Renewing, held: Claim | undefined, by: Entry): Promise<void> {
    const { log, owner } = this.#opts;
    try {
      const claim = held ?? await storage.claim(renewing.key, owner, storage.leaseMs ?? 60_000);
      if (isHeld(claim)) return;
      try {
        const current = await storage.get(renewing.key);
        // Only the certificate that was renewed (another instance may have stored a fresh one meanwhile).
        if (current && current.chain === renewing.entry.chain) await storage.remove(claim);
      } finally {
        await storage.release(claim);
      }
      log.info("certificate renewed at another CA, the old entry is removed", {
        names: renewing.entry.names,
        from: renewing.entry.ca ?? renewing.entry.directoryUrl,
        to: by.ca ?? by.directoryUrl,
      });
    } catch (error) {
      log.warn("cannot remove the entry a renewal at another CA replaced", {
        names: renewing.entry.names,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

/** The memo key of a cache key: CA directory, profile and CSR hash. */
function keyMemo(directoryUrl: string, profile: string | undefined, csrSha256: string): string {
  return `${directoryUrl}\u0000${profile ?? ""}\u0000${csrSha256}`;
}
