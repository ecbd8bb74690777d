/**
 * An `[auth]` block without HMAC that lets the clients of an HMAC block get its names makes that HMAC protect
 * nothing: a request whose HMAC is missing or wrong is not refused by the HMAC block, the next block is tried (see
 * src/policy/authorize.ts), and an earlier block that admits it is simply the first match. So `check-config` warns,
 * naming both blocks' `FILE:LINE`, when a block without HMAC (before or after it) covers both
 *  - a network of the HMAC block: one of its `ip` networks contains it, or it has no `ip` line (any client); an HMAC
 *    block without `ip` is covered only by a block without `ip`;
 *  - a `domain` glob of the HMAC block: one of its globs matches every name that glob matches (`globCovers`).
 * Sound (a warning means some request really skips the HMAC) and conservative: partial overlaps (a smaller network
 * inside the HMAC block's one, globs that merely intersect) are not reported. Pure.
 */
import { globCovers } from "../lib/glob.ts";
import { networkCovers } from "../lib/ip.ts";
import { type Diagnostics, where } from "./diagnostics.ts";
import type { AuthBlock, IpNetwork } from "./types.ts";

/** What of an HMAC block another block covers, or null. */
export interface Shadow {
  /** The HMAC block's network (`any client` when it has no `ip`) and the other block's network that contains it. */
  network: { inner: string; outer: string };
  /** The HMAC block's glob and the other block's glob that covers it. */
  glob: { inner: string; outer: string };
}

/** Warns once per (HMAC block, block without HMAC) pair where the second makes the first's HMAC pointless. */
export const warnShadowedHmacBlocks =
  (function warnShadowedHmacBlocks(blocks: readonly AuthBlock[], diag: Diagnostics): void {
    blocks.forEach((guarded, i) => {
      if (!guarded.hmac) return;
      blocks.forEach((open, j) => {
        // An ACME-only block (EAB its only credential) admits no /sign request: it shadows nothing.
        if (open.hmac || i === j || (open.acmeEab && open.ips.length === 0 && !open.all)) return;
        const shadow = shadowOf(guarded, open);
        if (!shadow) return;
        const order = j > i ? "later" : "earlier";
        const how = j > i
          ? "a request with a missing or wrong HMAC falls through to it"
          : "it is tried first and needs no HMAC";
        diag.warn(
          open.source,
          `[auth "${open.name}"] has no HMAC and comes ${order} than the HMAC block [auth "${guarded.name}"] at ` +
            `${where(guarded.source)}, yet admits its clients (${describeNetwork(shadow.network)}) for its names ` +
            `(${describeGlob(shadow.glob)}): ${how}, so those names need no HMAC from there. Narrow this ` +
            "block's ip or domain lines, or give it hmac_type and hmac_key too",
        );
      });
    });
  }).bind(null);

/** The first network and glob of `guarded` that `open` covers, or null when it covers none. */
export const shadowOf = (function shadowOf(guarded: AuthBlock, open: AuthBlock): Shadow | null {
  const network = coveredNetwork(guarded.ips, open.ips);
  if (!network) return null;
  for (const inner of guarded.domains) {
    const outer = open.domains.find((candidate) => globCovers(candidate, inner));
    if (outer !== undefined) return { network, glob: { inner, outer } };
  }
  return null;
}).bind(null);

const coveredNetwork = (function coveredNetwork(guarded: IpNetwork[], open: IpNetwork[]): Shadow["network"] | null {
  if (open.length === 0) return { inner: guarded[0]?.text ?? ANY, outer: ANY };
  for (const inner of guarded) {
    const outer = open.find((candidate) => networkCovers(candidate, inner));
    if (outer) return { inner: inner.text, outer: outer.text };
  }
  return null;
}).bind(null);

const ANY = "any client";

const describeNetwork = (function describeNetwork(network: Shadow["network"]): string {
  if (network.outer === ANY) {
    return network.inner === ANY
      ? "any client: neither block has an ip line"
      : `${network.inner}: this block has no ip line`;
  }
  return network.inner === network.outer ? network.inner : `${network.inner} is inside ${network.outer}`;
}).bind(null);

const describeGlob = (function describeGlob(glob: Shadow["glob"]): string {
  return glob.inner === glob.outer ? glob.inner : `${glob.outer} covers ${glob.inner}`;
}).bind(null);
