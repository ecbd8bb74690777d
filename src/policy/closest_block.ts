/**
 * Why a refused /sign was refused, for the LOG only: which check failed for the closest auth block.
 *
 * The response to a refused client stays one line that reveals nothing of other clients' rules (authorize.ts); the
 * operator reading the log needs more: "not authorized" alone does not say whether the host's address, its
 * Authentication header, its HMAC or one of its names is what to fix.
 *
 * A block's checks, in order: its `ip` networks hold the client address (a block without `ip` lines holds every
 * address); its `hmac_*` (if any) finds an `Authentication` header of its algorithm; that header's HMAC matches the
 * body; every requested name is covered (a DNS name by a `domain` glob, an IP address by `ip-identifiers`).
 *
 * The closest block is the one the request was aimed at: once the names are known, a block that covers every
 * requested name comes before one that does not (a host asking for www.hmac.test without its HMAC is told about the
 * block of hmac.test names, not about a block without HMAC that lacks the name). Then the one that passed the most of
 * these checks; among equals, the first in config order. A block with neither `domain` nor `ip-identifiers` lines (it
 * admits nothing) comes after every other block. So with one block it is that block, and a client whose address no
 * block allows gets the first block (or the first that covers its names).
 *
 * Pure: the HMAC results come from authorize.ts's own checks. It runs only on the refusal path.
 */
import type { AuthBlock } from "../config/types.ts";
import type { IpAddress } from "../lib/ip.ts";
import { formatIp, networkContains, unmapIpv4 } from "../lib/ip.ts";
import { isIpName } from "../csr/names.ts";
import { showValue } from "../csr/display.ts";
import type { AuthenticationHeader } from "./authentication_header.ts";

/** The log's account of a refusal: the closest block (null when there is none) and the check that failed. */
export interface RefusalDetail {
  /** The name of the closest auth block; null when the config has no auth block. */
  closest: string | null;
  /** One line naming the check the closest block failed, e.g. `HMAC mismatch: …`, `name www.other.org not covered …`. */
  reason: string;
}

/** What the diagnosis needs to know of one block (authorize.ts's compiled block). */
export interface BlockView {
  block: AuthBlock;
  /** False for a block with neither `domain` nor `ip-identifiers` lines. */
  admitsAnything: boolean;
  /** The block admits this DNS or IP name by its globs or `ip-identifiers`. */
  admitsName(name: string): boolean;
}

/** What is known of the request: before the body, `hmacMatched` and `names` are null. */
export interface RefusedRequest {
  peer: IpAddress;
  header: AuthenticationHeader;
  /** Whether the header's HMAC matched the body, for each HMAC block authorize.ts verified. */
  hmacMatched: ReadonlyMap<AuthBlock, boolean> | null;
  names: readonly string[] | null;
}

/** How far a block got, and why it stopped. */
interface Progress {
  passed: number;
  reason: string;
}

/** The closest block and the check it failed (see the contract above). */
export function explainRefusal(blocks: readonly BlockView[], request: RefusedRequest): RefusalDetail {
  if (request.names !== null && request.names.length === 0) {
    return { closest: blocks[0]?.block.name ?? null, reason: "no names were requested" };
  }
  let best: { view: BlockView; progress: Progress; rank: number } | null = null;
  for (const view of blocks) {
    const progress = blockProgress(view, request);
    // Covering the names outranks any number of passed checks (at most 4).
    const covers = view.admitsAnything && request.names !== null && request.names.every((n) => view.admitsName(n));
    const rank = progress.passed + (covers ? 10 : 0);
    if (!best || rank > best.rank) best = { view, progress, rank };
  }
  if (!best) return { closest: null, reason: 'no [auth "name"] block is configured: every request is refused' };
  return { closest: best.view.block.name, reason: best.progress.reason };
}

function blockProgress(view: BlockView, request: RefusedRequest): Progress {
  const block = view.block;
  if (!view.admitsAnything) {
    return { passed: -1, reason: "the block has no domain or ip-identifiers lines: it admits nothing" };
  }
  const peer = request.peer;
  if (block.ips.length > 0 && !block.ips.some((network) => networkContains(network, peer))) {
    return {
      passed: 0,
      reason: `client address ${showAddress(peer)} not allowed: it is in none of the block's ip networks`,
    };
  }
  const header = request.header;
  if (block.hmac) {
    const needs = `the block needs hmac name=${block.hmac.type}`;
    if (header.kind === "absent") return { passed: 1, reason: `Authentication header missing: ${needs}` };
    if (header.kind === "malformed") {
      return { passed: 1, reason: `Authentication header malformed (${header.problem}): ${needs}` };
    }
    if (header.algorithm !== block.hmac.type) {
      return { passed: 1, reason: `Authentication header is for ${header.algorithm}: ${needs}` };
    }
    if (request.hmacMatched === null) return { passed: 2, reason: "the block could admit the client" };
    if (request.hmacMatched.get(block) !== true) {
      return {
        passed: 2,
        reason: `HMAC mismatch: the Authentication header's hash is not the HMAC-${block.hmac.type} of the body ` +
          "under the block's hmac_key",
      };
    }
  }
  const names = request.names;
  if (names === null) return { passed: 3, reason: "the block could admit the client" };
  const uncovered = names.find((n) => !view.admitsName(n));
  if (uncovered === undefined) return { passed: 4, reason: "the block admits the request" };
  const shown = /^[a-z0-9*.:-]{1,253}$/.test(uncovered) ? uncovered : showValue(uncovered);
  if (isIpName(uncovered)) {
    return {
      passed: 3,
      reason: `IP identifier ${shown} not allowed: it is in none of the block's ip-identifiers networks`,
    };
  }
  return { passed: 3, reason: `name ${shown} not covered by the block's domain globs` };
}

function showAddress(peer: IpAddress): string {
  const address = unmapIpv4(peer);
  return formatIp(address.family, address.bytes);
}
