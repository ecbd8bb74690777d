/**
 * The registered domain of a name, as CAs count `certificates per registered domain`: the Public Suffix List
 * (ICANN and private sections, from the maintained `tldts` package) gives the public suffix plus one label
 * (`www.example.co.uk` → `example.co.uk`, `a.b.github.io` → `b.github.io`). A wildcard counts for its base name;
 * an IP address counts on its own; a name that is itself a public suffix (or has no known one) counts as written.
 *
 * Pure once loaded: `tldts` (the list, about 100 kB) is imported at the first `loadPublicSuffixList()`, so `serve` and
 * `check-config` do not load it before a ledger needs it.
 */
import { parseIpAddress } from "../lib/ip.ts";

let tldts: typeof import("tldts") | undefined;
let loading: Promise<void> | undefined;

/** Loads the Public Suffix List (once per process; a failed load is retried at the next call). */
export function loadPublicSuffixList(): Promise<void> {
  loading ??= import("tldts").then((module) => void (tldts = module)).catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/** The registered domain `name` counts toward (lower case). */
export function registeredDomain(name: string): string {
  const lower = name.toLowerCase();
  if (parseIpAddress(lower)) return lower;
  const base = lower.startsWith("*.") ? lower.slice(2) : lower;
  if (!tldts) throw new Error("registeredDomain() needs the Public Suffix List: await loadPublicSuffixList() first");
  return tldts.getDomain(base, { allowPrivateDomains: true }) ?? base;
}

/** The distinct registered domains of an order's names, sorted. */
export function registeredDomains(names: readonly string[]): string[] {
  return [...new Set(names.map(registeredDomain))].sort();
}
