/**
 * What the two-CA tests share: named plus two real pebbles A and B on one http-01 port (acmems answers for both),
 * a `[ca]` section for each, and how to tell which CA issued a chain (each pebble has its own intermediate).
 */
import { assert } from "../../support/assert.ts";
import { type Named, startNamed } from "../../support/named.ts";
import { type Pebble, type PebbleOptions, startPebble } from "../../support/pebble.ts";
import { freePorts } from "../../support/ports.ts";
import type { Cleanup } from "../../support/stack.ts";

export interface TwoCas {
  named: Named;
  a: Pebble;
  b: Pebble;
  httpPort: number;
  mgmtPort: number;
}

/** named, pebble A and pebble B (stopped by `cleanup`), and free ports for acmems' http-01 and mgmt listeners. */
export async function startTwoCas(
  cleanup: Cleanup,
  opts: { a?: PebbleOptions; b?: PebbleOptions } = {},
): Promise<TwoCas> {
  const named = await startNamed();
  cleanup.add(() => named.stop());
  const [httpPort, mgmtPort] = await freePorts(2);
  const a = await startPebble({ dnsServer: named.address, httpPort, ...opts.a });
  cleanup.add(() => a.stop());
  const b = await startPebble({ dnsServer: named.address, httpPort, ...opts.b });
  cleanup.add(() => b.stop());
  return { named, a, b, httpPort, mgmtPort };
}

/** A `[ca]` (or `[account]`) section for `pebble` with its own account directory. */
export function caSection(pebble: Pebble, dir: string, more: Record<string, string> = {}) {
  return {
    "acme-server": pebble.directoryUrl,
    "ca-file": pebble.caFile,
    dir,
    "accept-terms-of-service": true,
    ...more,
  };
}

/** The issuing intermediate of a chain (its second PEM block), normalised. */
export function intermediateOf(chain: string): string {
  const blocks = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  assert(blocks.length >= 2, `a chain of at least two certificates: ${chain}`);
  return blocks[1].replace(/\s+/g, "");
}

/** A PEM block without whitespace, to compare with `intermediateOf`. */
export const pemBody = (pem: string) => pem.trim().replace(/\s+/g, "");
