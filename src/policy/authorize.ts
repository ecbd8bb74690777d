/**
 * Which `[auth "…"]` block, if any, lets this client get these names.
 *
 * Semantics (kept from the original acmems, minus its crashes):
 *  - blocks are tried in config order; the first block that admits the request wins, and its verification, storage
 *    and profile are used;
 *  - a block admits a request when every method it has passes — `ip` (the TCP peer is in one of its networks),
 *    `hmac` (the `Authentication` header carries a valid HMAC of the exact body under its key and algorithm), `all`
 *    (always) — AND every requested DNS name matches some `domain` glob of that same block, and every requested IP
 *    address (RFC 8738; `ipName` text) is inside one of its `ip-identifiers` networks (never matched by a glob:
 *    `domain = *` admits no IP address). Names are never split across blocks. A block with only `domain` lines
 *    admits every client (the config layer warns about it); a block without `domain` or `ip-identifiers` lines
 *    admits nothing; a block whose only credential is `acme-eab-kid` (no `ip`, `hmac`, `all`) is for the ACME front
 *    end (src/acme_server/) and admits no /sign request;
 *  - a failing HMAC block does not stop a later block (e.g. an IP-only one) from admitting the request;
 *  - the peer is matched as the socket reported it: IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as IPv4, an IPv6
 *    zone id is ignored. Forwarding headers are never consulted here.
 *
 * Refusal reasons are one line and reveal nothing about other clients' rules: which block exists, which check failed
 * (beyond a malformed header, which is the client's own doing) and what other blocks allow stay unsaid. A refusal
 * also carries `detail` (closest_block.ts): the closest block and the check it failed, for the log only.
 */
import type { IpAddress } from "../lib/ip.ts";
import { networkContains, parseIpAddress } from "../lib/ip.ts";
import { isIpName } from "../csr/names.ts";
import type { AuthBlock } from "../config/types.ts";
import { showValue } from "../csr/display.ts";
import {
  type AuthenticationHeader,
  malformedAuthenticationReason,
  parseAuthenticationHeader,
} from "./authentication_header.ts";
import { compileGlob } from "../lib/glob.ts";
import { verifyBlockHmac } from "./hmac.ts";
import { explainRefusal, type RefusalDetail } from "./closest_block.ts";

export type { RefusalDetail } from "./closest_block.ts";

/** What is known before the body is read. */
export interface PrecheckRequest {
  /** The TCP peer address. */
  peer: IpAddress;
  /** The raw `Authentication` header value, or null. */
  authentication: string | null;
}

export interface AuthRequest extends PrecheckRequest {
  /** The exact request body (the HMAC covers these bytes). */
  body: Uint8Array;
  /** The normalized requested names (from `checkCsrRules`). */
  names: string[];
}

/** A refusal: `reason` is the response's (reveals nothing), `detail` the log's (the closest block's failed check). */
export interface Refusal {
  ok: false;
  reason: string;
  detail: RefusalDetail;
}
export type AuthDecision = { ok: true; block: AuthBlock } | Refusal;
export type PrecheckDecision = { ok: true; blocks: AuthBlock[] } | Refusal;

/** The auth blocks with their globs compiled once; reuse it for every request. */
export interface CompiledPolicy {
  readonly blocks: readonly AuthBlock[];
  /** Invalid `domain` globs found while compiling (`auth "name": …`). They match nothing. */
  readonly errors: readonly string[];
  /** The blocks that could still admit this client once the body is known, in config order. */
  possibleBlocks(request: PrecheckRequest): AuthBlock[];
  /** `possibleBlocks`, or a refusal reason when there are none (answer 403 without reading the body). */
  precheck(request: PrecheckRequest): PrecheckDecision;
  /** The first block admitting the client for all names, or a refusal reason. */
  authorize(request: AuthRequest): Promise<AuthDecision>;
}

interface CompiledBlock {
  block: AuthBlock;
  domains: readonly string[];
  matchers: ((name: string) => boolean)[];
  errors: string[];
  /** For closest_block.ts. */
  admitsAnything: boolean;
  admitsName(name: string): boolean;
}

const compiledBlocks = new WeakMap<AuthBlock, CompiledBlock>();
const compiledPolicies = new WeakMap<readonly AuthBlock[], CompiledPolicy>();

/** Compiles the blocks' globs (memoised by the identity of the array and of each block). */
export function compilePolicy(blocks: readonly AuthBlock[]): CompiledPolicy {
  const cached = compiledPolicies.get(blocks);
  if (cached && cached.blocks.length === blocks.length && cached.blocks.every((b, i) => b === blocks[i])) {
    return cached;
  }
  const policy = new Policy([...blocks], blocks.map(compileBlock));
  compiledPolicies.set(blocks, policy);
  return policy;
}

/** Shorthand for `compilePolicy(blocks).possibleBlocks(request)`. */
export function possibleBlocks(blocks: readonly AuthBlock[], request: PrecheckRequest): AuthBlock[] {
  return compilePolicy(blocks).possibleBlocks(request);
}

/** Shorthand for `compilePolicy(blocks).authorize(request)`. */
export function authorize(blocks: readonly AuthBlock[], request: AuthRequest): Promise<AuthDecision> {
  return compilePolicy(blocks).authorize(request);
}

function compileBlock(block: AuthBlock): CompiledBlock {
  const cached = compiledBlocks.get(block);
  if (cached && cached.domains === block.domains) return cached;
  const matchers: ((name: string) => boolean)[] = [];
  const errors: string[] = [];
  for (const domain of block.domains) {
    const glob = compileGlob(domain);
    if (glob.ok) matchers.push(glob.match);
    else errors.push(`auth "${block.name}": ${glob.error}`);
  }
  const compiled: CompiledBlock = {
    block,
    domains: block.domains,
    matchers,
    errors,
    admitsAnything: matchers.length > 0 || (block.ipIdentifiers?.length ?? 0) > 0,
    admitsName: (name) => admitsName(compiled, name),
  };
  compiledBlocks.set(block, compiled);
  return compiled;
}

class Policy implements CompiledPolicy {
  readonly errors: readonly string[];

  constructor(readonly blocks: readonly AuthBlock[], private readonly compiled: CompiledBlock[]) {
    this.errors = compiled.flatMap((c) => c.errors);
  }

  possibleBlocks(request: PrecheckRequest): AuthBlock[] {
    const header = parseAuthenticationHeader(request.authentication);
    const peer = stripZone(request.peer);
    return this.compiled.filter((c) => isPossible(c, peer, header)).map((c) => c.block);
  }

  /**
   * Remembered per peer object and header value: the /sign pipeline hands the same (memoised) peer for a client, and
   * a host sends the same header for the same CSR. The policy never changes (a reload builds a new one).
   */
  readonly #prechecked = new WeakMap<IpAddress, Map<string, PrecheckDecision>>();

  precheck(request: PrecheckRequest): PrecheckDecision {
    let byHeader = this.#prechecked.get(request.peer);
    const memoKey = request.authentication ?? "";
    const known = byHeader?.get(memoKey);
    if (known) return known;
    const blocks = this.possibleBlocks(request);
    let decision: PrecheckDecision;
    if (blocks.length > 0) decision = { ok: true, blocks };
    else {
      const header = parseAuthenticationHeader(request.authentication);
      const detail = explainRefusal(this.compiled, {
        peer: stripZone(request.peer),
        header,
        hmacMatched: null,
        names: null,
      });
      decision = { ok: false, reason: refusalReason(header, null), detail };
    }
    if (!byHeader) this.#prechecked.set(request.peer, byHeader = new Map());
    if (byHeader.size >= 64) byHeader.clear();
    byHeader.set(memoKey, decision);
    return decision;
  }

  async authorize(request: AuthRequest): Promise<AuthDecision> {
    const header = parseAuthenticationHeader(request.authentication);
    const peer = stripZone(request.peer);
    const names = request.names;
    const hmacMatched = new Map<AuthBlock, boolean>();
    if (names.length > 0) {
      for (const compiled of this.compiled) {
        if (!isPossible(compiled, peer, header)) continue;
        if (compiled.block.hmac) {
          const matched = await verifyBlockHmac(compiled.block, header, request.body);
          hmacMatched.set(compiled.block, matched);
          if (!matched) continue;
        }
        if (names.every((name) => admitsName(compiled, name))) {
          return { ok: true, block: compiled.block };
        }
      }
    }
    const detail = explainRefusal(this.compiled, { peer, header, hmacMatched, names });
    return { ok: false, reason: refusalReason(header, names), detail };
  }
}

/**
 * An IP address name is inside one of the block's `ip-identifiers`; a DNS name matches one of its globs.
 * Remembered per compiled block and name (a pure function of both; hosts ask for the same names again and again).
 */
function admitsName(compiled: CompiledBlock, name: string): boolean {
  let memo = nameMemos.get(compiled);
  if (!memo) nameMemos.set(compiled, memo = new Map());
  let admitted = memo.get(name);
  if (admitted === undefined) {
    admitted = isIpName(name)
      ? ipIdentifierAdmitted(compiled.block, name)
      : compiled.matchers.some((match) => match(name));
    if (memo.size >= 4096) memo.clear();
    memo.set(name, admitted);
  }
  return admitted;
}

const nameMemos = new WeakMap<CompiledBlock, Map<string, boolean>>();

/** True when `block` admits `name` by its `domain` globs (a DNS name) or `ip-identifiers` (an IP address). */
export function blockAdmitsName(block: AuthBlock, name: string): boolean {
  return admitsName(compileBlock(block), name);
}

/**
 * True when the IP address `name` is inside one of `block`'s `ip-identifiers` networks. The families must agree
 * as written: an IPv4-mapped IPv6 SAN (`::ffff:192.0.2.1`) is not the IPv4 address here (unlike a peer address).
 */
export function ipIdentifierAdmitted(block: AuthBlock, name: string): boolean {
  const address = parseIpAddress(name);
  return address !== null &&
    (block.ipIdentifiers ?? []).some((network) =>
      network.family === address.family && networkContains(network, address)
    );
}

/** The block's `ip` lines hold `peer` (a block without them holds every address; an unknown peer none of them). */
export function blockAllowsAddress(block: AuthBlock, peer: IpAddress | null): boolean {
  if (block.ips.length === 0) return true;
  return peer !== null && block.ips.some((network) => networkContains(network, peer));
}

/** ip (when set) contains the peer, hmac (when set) has a well-formed header for its algorithm, has names. */
function isPossible(compiled: CompiledBlock, peer: IpAddress, header: AuthenticationHeader): boolean {
  const block = compiled.block;
  if (compiled.matchers.length === 0 && !block.ipIdentifiers?.length) return false;
  // A block whose only credential is its ACME EAB pair is for the ACME front end: it never admits /sign anonymously.
  if (block.acmeEab && block.ips.length === 0 && !block.hmac && !block.all) return false;
  if (!blockAllowsAddress(block, peer)) return false;
  if (block.hmac && (header.kind !== "hmac" || header.algorithm !== block.hmac.type)) return false;
  return true;
}

function stripZone(peer: IpAddress): IpAddress {
  return { family: peer.family, bytes: peer.bytes };
}

function refusalReason(header: AuthenticationHeader, names: string[] | null): string {
  if (header.kind === "malformed") return malformedAuthenticationReason(header.problem);
  if (names === null) {
    return "No auth block admits this client: check the client address and the Authentication header";
  }
  if (names.length === 0) return "No names were requested: the CSR must list at least one DNS name";
  return `No auth block admits this client for ${describeNames(names)}: check the client address, ` +
    "the Authentication header and the requested names";
}

/** `a.example.org`, `a.example.org, b.example.org and 7 more`. */
export function describeNames(names: readonly string[]): string {
  const show = (name: string) => /^[a-z0-9*.-]{1,253}$/.test(name) || isIpName(name) ? name : showValue(name);
  const shown = names.slice(0, 3).map(show).join(", ");
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
