/**
 * The ledger's limits from a config: each CA's resolved limits (`[account]` is the CA `default`) and each auth
 * block's budget, and how long events must be kept (the longest window). Pure.
 */
import type { Config } from "../config/types.ts";
import type { BlockLimits } from "./ledger.ts";
import type { CaLimits, RateLimit } from "./ledger_port.ts";
import { describeCaLimits } from "./limits.ts";

/** The CA name of `[account]`. */
export const DEFAULT_CA = "default";

/** Each CA's limits by CA name (`[account]` is `default`; every `[ca "name"]` too). */
export const caLimitsOf = (function caLimitsOf(config: Config): Map<string, CaLimits> {
  if (!config.cas) return new Map([[DEFAULT_CA, config.account.limits]]);
  return new Map([...config.cas].map(([name, ca]) => [name, ca.limits]));
}).bind(null);

/** Each auth block with a budget, by block name. */
export const blockLimitsOf = (function blockLimitsOf(config: Config): Map<string, BlockLimits> {
  const blocks = new Map<string, BlockLimits>();
  for (const block of config.auth) {
    if (!block.limitOrders && !block.limitOrdersPerClient) continue;
    const limits: BlockLimits = {};
    if (block.limitOrders) limits.limitOrders = block.limitOrders;
    if (block.limitOrdersPerClient) limits.limitOrdersPerClient = block.limitOrdersPerClient;
    blocks.set(block.name, limits);
  }
  return blocks;
}).bind(null);

/** The longest window of any limit (at least an hour): older events are pruned. */
export const retentionMs =
  (function retentionMs(cas: ReadonlyMap<string, CaLimits>, blocks: ReadonlyMap<string, BlockLimits>): number {
    const limits: (RateLimit | undefined)[] = [];
    for (const ca of cas.values()) limits.push(ca.orders, ca.registeredDomain, ca.exactSet, ca.failedAuthorizations);
    for (const block of blocks.values()) limits.push(block.limitOrders, block.limitOrdersPerClient);
    const longest = Math.max(3600, ...limits.map((l) => l?.windowSeconds ?? 0));
    return longest * 1000;
  }).bind(null);

/** Where the ledger lives for `config`: the [mgmt] default storage (`file`, `postgres`) or memory. */
export const ledgerLocation = (function ledgerLocation(config: Config): string {
  const name = config.mgmt.defaultStorage;
  const storage = name === null ? undefined : config.storages.get(name);
  if (!storage || storage.type === "none") return "memory (lost at restart: no file or postgres default storage)";
  return `storage ${storage.name} (${storage.type})`;
}).bind(null);

/** check-config's `rateLimits`: where the ledger lives, each CA's limits, each block's budget. */
export const rateLimitsJson = (function rateLimitsJson(config: Config): Record<string, unknown> {
  const text = (limit: RateLimit | undefined) => limit?.text ?? "off";
  return {
    ledger: ledgerLocation(config),
    cas: [...caLimitsOf(config)].map(([ca, limits]) => ({
      ca,
      rateLimits: limits.off ? "off" : "on",
      limitOrders: limits.off ? "off" : text(limits.orders),
      limitRegisteredDomain: limits.off ? "off" : text(limits.registeredDomain),
      limitExactSet: limits.off ? "off" : text(limits.exactSet),
      limitFailedAuthorizations: limits.off ? "off" : text(limits.failedAuthorizations),
    })),
    blocks: [...blockLimitsOf(config)].map(([block, limits]) => ({
      block,
      limitOrders: limits.limitOrders?.text ?? null,
      limitOrdersPerClient: limits.limitOrdersPerClient?.text ?? null,
    })),
  };
}).bind(null);

/** check-config's text lines: `rate limits (kept in …):`, one line per CA and per block with a budget. */
export const rateLimitsSummary = (function rateLimitsSummary(config: Config): string[] {
  const lines = [`rate limits (ledger in ${ledgerLocation(config)}):`];
  for (const [ca, limits] of caLimitsOf(config)) lines.push(`  CA ${ca}: ${describeCaLimits(limits).join(", ")}`);
  for (const [block, limits] of blockLimitsOf(config)) {
    const parts: string[] = [];
    if (limits.limitOrders) parts.push(`limit-orders = ${limits.limitOrders.text}`);
    if (limits.limitOrdersPerClient) parts.push(`limit-orders-per-client = ${limits.limitOrdersPerClient.text}`);
    lines.push(`  auth ${block}: ${parts.join(", ")}`);
  }
  return lines;
}).bind(null);
