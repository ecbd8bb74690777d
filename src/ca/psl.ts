/**
 * The registered domain of a name, as CAs count `certificates per registered domain`: the Public Suffix List
 * (ICANN and private sections, from the maintained `tldts` package) gives the public suffix plus one label
 * (`www.example.co.uk` → `example.co.uk`, `a.b.github.io` → `b.github.io`). A wildcard counts for its base name;
 * an IP address counts on its own; a name that is itself a public suffix (or has no known one) counts as written.
 *
 * Pure.
 */
import { getDomain } from "tldts";
import { parseIpAddress } from "../lib/ip.ts";

/** The registered domain `name` counts toward (lower case). */
export function registeredDomain(name: string): string {
  const lower = name.toLowerCase();
  if (parseIpAddress(lower)) return lower;
  const base = lower.startsWith("*.") ? lower.slice(2) : lower;
  return getDomain(base, { allowPrivateDomains: true }) ?? base;
}

/** The distinct registered domains of an order's names, sorted. */
export function registeredDomains(names: readonly string[]): string[] {
  return [...new Set(names.map(registeredDomain))].sort();
}
