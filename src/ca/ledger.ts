/**
 * The rate-limit ledger (the contract is in ledger_port.ts): each CA's limits and each auth block's budget, counted
 * in sliding windows in a `LedgerStore` (memory, files or PostgreSQL) before acmems calls the CA.
 *
 * What is counted, per order (keys within the owner `ca:NAME` / `block:NAME`):
 * - CA (unless `rate-limits = off`): `orders` (new orders per account), `rd|DOMAIN` per registered domain (Public
 *   Suffix List, psl.ts; an IP address counts on its own), `set|a,b` per exact set of names (sorted, joined), and
 *   `fa|NAME` failed authorizations per name (noted by `noteFailedAuthorization`, checked here, never added here).
 * - Auth block (only for a host's request: background renewals carry no block): `block-orders` (the block's budget,
 *   `limit-orders`) and `client|ADDRESS` (`limit-orders-per-client`).
 * - An ARI renewal (`replaces`) is counted in every window but refused by none of them.
 * - A pause (`noteRateLimited`: the CA's own 429 or paused account–name pair) refuses every order for those names at
 *   that CA until it ends, renewals too (the CA said so), whatever `rate-limits` says; without names it pauses the CA.
 * Refusals of an auth block's budget come first (`scope: "block"`: answer 429), then the CA's (`scope: "ca"`).
 */
import type { Clock } from "../lib/clock.ts";
import type { Admission, BudgetLine, CaLimits, Ledger, OrderIntent, RateLimit } from "./ledger_port.ts";
import type { FullCheck, LedgerCheck, LedgerStore, Pause } from "./ledger_store.ts";
import { CA_LIMIT_OPTIONS, formatWindow } from "./limits.ts";
import { registeredDomains } from "./psl.ts";

/** An auth block's budget (`[auth]` `limit-orders`, `limit-orders-per-client`). */
export interface BlockLimits {
  limitOrders?: RateLimit;
  limitOrdersPerClient?: RateLimit;
}

export interface LedgerOptions {
  store: LedgerStore;
  /** Each CA's resolved limits by CA name (`default` for `[account]`); a CA not listed has none. */
  cas: ReadonlyMap<string, CaLimits>;
  /** Each auth block's budget by block name; a block not listed (or without limits) has none. */
  blocks: ReadonlyMap<string, BlockLimits>;
  now: Clock;
}

/** The key of the whole CA's pause (noteRateLimited without names). */
const CA_PAUSE = "*";

/** What one check stands for, to word a refusal and to read the budget. */
interface Described extends LedgerCheck {
  scope: "ca" | "block";
  /** `limit-orders = 2/1h (CA "a")`. */
  limit: string;
  /** What the window counts, for the detail: `new orders at CA "a"`. */
  what: string;
}

/** The distinct names of an intent, lower case, sorted (the exact set). */
function exactSet(names: readonly string[]): string[] {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort();
}

export function caOwner(ca: string): string {
  return `ca:${ca}`;
}

export function blockOwner(block: string): string {
  return `block:${block}`;
}

/** `in 3600 s (at 2026-12-07T10:00:00Z)`. */
function when(seconds: number, at: number): string {
  return `in ${seconds} s (at ${new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z")})`;
}

function retryAfter(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}

export class RateLimitLedger implements Ledger {
  readonly #opts: LedgerOptions;

  constructor(opts: LedgerOptions) {
    this.#opts = opts;
  }

  /** The checks for `intent`: the block's first, then the CA's. */
  checks(intent: OrderIntent): Described[] {
    const checks: Described[] = [];
    const enforce = intent.replaces === undefined;
    const names = exactSet(intent.names);
    const block = intent.block !== undefined ? this.#opts.blocks.get(intent.block) : undefined;
    if (intent.block !== undefined && block) {
      const owner = blockOwner(intent.block);
      const label = `[auth "${intent.block}"]`;
      if (block.limitOrders) {
        checks.push(
          this.#check(owner, "block-orders", block.limitOrders, enforce, true, "block", {
            limit: `limit-orders = ${block.limitOrders.text} (${label})`,
            what: `new orders from ${label}`,
          }),
        );
      }
      if (block.limitOrdersPerClient && intent.client !== undefined) {
        checks.push(
          this.#check(owner, `client|${intent.client}`, block.limitOrdersPerClient, enforce, true, "block", {
            limit: `limit-orders-per-client = ${block.limitOrdersPerClient.text} (${label}, client ${intent.client})`,
            what: `new orders from client ${intent.client} of ${label}`,
          }),
        );
      }
    }
    const limits = this.#opts.cas.get(intent.ca);
    if (!limits || limits.off) return checks;
    const owner = caOwner(intent.ca);
    const ca = `CA "${intent.ca}"`;
    const option = (key: keyof typeof CA_LIMIT_OPTIONS, limit: RateLimit) =>
      `${CA_LIMIT_OPTIONS[key]} = ${limit.text} (${ca})`;
    if (limits.orders) {
      checks.push(this.#check(owner, "orders", limits.orders, enforce, true, "ca", {
        limit: option("orders", limits.orders),
        what: `new orders at ${ca}`,
      }));
    }
    if (limits.registeredDomain) {
      for (const domain of registeredDomains(names)) {
        checks.push(this.#check(owner, `rd|${domain}`, limits.registeredDomain, enforce, true, "ca", {
          limit: option("registeredDomain", limits.registeredDomain),
          what: `certificates for the registered domain ${domain} at ${ca}`,
        }));
      }
    }
    if (limits.exactSet) {
      checks.push(this.#check(owner, `set|${names.join(",")}`, limits.exactSet, enforce, true, "ca", {
        limit: option("exactSet", limits.exactSet),
        what: `certificates for exactly ${names.join(", ")} at ${ca}`,
      }));
    }
    if (limits.failedAuthorizations && enforce) {
      for (const name of names) {
        checks.push(this.#check(owner, `fa|${name}`, limits.failedAuthorizations, true, false, "ca", {
          limit: option("failedAuthorizations", limits.failedAuthorizations),
          what: `failed authorizations for ${name} at ${ca}`,
        }));
      }
    }
    return checks;
  }

  #check(
    owner: string,
    key: string,
    limit: RateLimit,
    enforce: boolean,
    record: boolean,
    scope: "ca" | "block",
    words: { limit: string; what: string },
  ): Described {
    return { owner, key, windowMs: limit.windowSeconds * 1000, max: limit.count, enforce, record, scope, ...words };
  }

  async admit(intent: OrderIntent): Promise<Admission> {
    const { store } = this.#opts;
    const now = this.#opts.now().getTime();
    const names = exactSet(intent.names);
    const checks = this.checks(intent);
    // The block's budget first: when it is spent, no CA would help.
    const blockChecks = checks.filter((c) => c.scope === "block");
    if (blockChecks.length > 0) {
      const probe = await store.take(blockChecks.map((c) => ({ ...c, record: false })), now);
      if (!probe.ok) return this.#refusal(blockChecks, probe.full, now);
    }
    const paused = await this.#paused(intent.ca, names, now);
    if (paused) return paused;
    const taken = await store.take(checks, now);
    if (!taken.ok) return this.#refusal(checks, taken.full, now);
    let released = false;
    return {
      ok: true,
      ticket: {
        cancel: async () => {
          if (released) return;
          released = true;
          await store.release(taken.events);
        },
      },
    };
  }

  /** The refusal for the full checks: the block's when its budget is spent, else the CA's; the latest free slot. */
  #refusal(checks: readonly Described[], full: readonly FullCheck[], now: number): Admission {
    const blockFull = full.filter((f) => checks[f.index].scope === "block");
    const chosen = blockFull.length > 0 ? blockFull : full;
    const last = chosen.reduce((a, b) => (b.freeAt > a.freeAt ? b : a));
    const check = checks[last.index];
    const seconds = retryAfter(last.freeAt, now);
    return {
      ok: false,
      scope: check.scope,
      retryAfterSeconds: seconds,
      limit: check.limit,
      detail: `Rate limit ${check.limit} reached: ${last.count} ${check.what} within ${
        formatWindow(check.windowMs / 1000)
      } (at most ${check.max}); a slot frees ${when(seconds, last.freeAt)}`,
    };
  }

  /** The refusal for a paused CA or name, or undefined. */
  async #paused(ca: string, names: readonly string[], now: number): Promise<Admission | undefined> {
    const keys = [CA_PAUSE, ...names.map((n) => `name|${n}`)];
    const pauses = await this.#opts.store.pauses(caOwner(ca), keys, now);
    if (pauses.size === 0) return undefined;
    const [key, pause] = [...pauses].reduce((a, b) => (b[1].until > a[1].until ? b : a));
    const seconds = retryAfter(pause.until, now);
    const what = key === CA_PAUSE ? `every order` : `orders for ${key.slice("name|".length)}`;
    const refusal: Admission = {
      ok: false,
      scope: "ca",
      retryAfterSeconds: seconds,
      limit: `rate-limited by CA "${ca}"`,
      detail: `CA "${ca}" refuses ${what} until ${new Date(pause.until).toISOString()} (${pause.detail}); ` +
        `retry ${when(seconds, pause.until)}` + (pause.unpauseUrl ? `; unpause: ${pause.unpauseUrl}` : ""),
    };
    if (pause.unpauseUrl) refusal.unpauseUrl = pause.unpauseUrl;
    return refusal;
  }

  async noteFailedAuthorization(ca: string, name: string): Promise<void> {
    const limits = this.#opts.cas.get(ca);
    if (!limits || limits.off || !limits.failedAuthorizations) return;
    await this.#opts.store.record(caOwner(ca), `fa|${name.toLowerCase()}`, this.#opts.now().getTime());
  }

  async noteRateLimited(
    ca: string,
    names: readonly string[],
    retryAfterSeconds: number,
    detail: string,
    unpauseUrl?: string,
  ): Promise<void> {
    const now = this.#opts.now().getTime();
    const pause: Pause = { until: now + Math.max(1, retryAfterSeconds) * 1000, detail };
    if (unpauseUrl) pause.unpauseUrl = unpauseUrl;
    const keys = names.length === 0 ? [CA_PAUSE] : exactSet(names).map((n) => `name|${n}`);
    for (const key of keys) await this.#opts.store.pause(caOwner(ca), key, pause);
  }

  async budget(): Promise<BudgetLine[]> {
    const { store, cas, blocks } = this.#opts;
    const now = this.#opts.now().getTime();
    const lines: BudgetLine[] = [];
    const add = async (owner: string, label: string, limitName: string, prefix: string, limit: RateLimit) => {
      const counts = await store.count(owner, prefix, limit.windowSeconds * 1000, now);
      const keyed = prefix.endsWith("|");
      if (!keyed) {
        const used = counts.get(prefix) ?? 0;
        lines.push({ owner: label, limit: limitName, key: "", max: limit.count, remaining: remaining(limit, used) });
        return;
      }
      if (counts.size === 0) {
        lines.push({ owner: label, limit: limitName, key: "", max: limit.count, remaining: limit.count });
      }
      for (const [key, used] of [...counts].sort(([a], [b]) => a < b ? -1 : 1)) {
        const sub = key.slice(prefix.length);
        lines.push({ owner: label, limit: limitName, key: sub, max: limit.count, remaining: remaining(limit, used) });
      }
    };
    for (const [name, limits] of cas) {
      if (limits.off) continue;
      const owner = caOwner(name);
      if (limits.orders) await add(owner, name, "orders", "orders", limits.orders);
      if (limits.registeredDomain) await add(owner, name, "registered-domain", "rd|", limits.registeredDomain);
      if (limits.exactSet) await add(owner, name, "exact-set", "set|", limits.exactSet);
      if (limits.failedAuthorizations) {
        await add(owner, name, "failed-authorizations", "fa|", limits.failedAuthorizations);
      }
    }
    for (const [name, block] of blocks) {
      const owner = blockOwner(name);
      if (block.limitOrders) await add(owner, `block:${name}`, "block-orders", "block-orders", block.limitOrders);
      if (block.limitOrdersPerClient) {
        await add(owner, `block:${name}`, "block-client-orders", "client|", block.limitOrdersPerClient);
      }
    }
    return lines;
  }
}

function remaining(limit: RateLimit, used: number): number {
  return Math.max(0, limit.count - used);
}
