/**
 * DNS exchanges for the dns-01 solver: servers tried in order on failure, responses checked (ID, QR, opcode,
 * question, TSIG) and UPDATE rcodes turned into errors that say what to fix.
 *
 * Only what changes the zone is signed: UPDATEs carry the TSIG key, lookups (CNAME, SOA, TXT visibility) go unsigned.
 * A server may refuse a signed query outside the key's zones (Knot DNS answers NOTAUTH/BADKEY when the zone's ACL does
 * not name the key), which would break the very CNAME delegation out of such a zone that the acme-dns pattern is for.
 *
 * An error answer to a signed UPDATE that is not signed itself (a BADSIG/BADKEY answer never is, RFC 8945) is
 * `unverified`: it may be spoofed, so the caller must assume the update may have been applied.
 *
 * Error kinds and what /sign makes of them (dns01_update.ts): `unreachable` (no server answered usably) and
 * `invisible` (the record never showed up) are worth retrying later (503); every other kind needs the operator (421).
 */
import { sameBytes } from "../../../lib/bytes.ts";
import type { DnsServerAddress } from "../../../config/types.ts";
import {
  buildQuery,
  buildUpdate,
  type DecodedMessage,
  decodeMessage,
  loadDnsCodec,
  OPCODE_QUERY,
  OPCODE_UPDATE,
  type QueryType,
  randomId,
  RCODE,
  rcodeName,
  readHeader,
  readName,
  type UpdateOptions,
} from "./wire.ts";
import { DnsTransportError, exchangeTcp, exchangeUdp } from "./transport.ts";
import { type TsigCheck, type TsigKeyInput, TsigSigner } from "./tsig.ts";

export type DnsErrorKind =
  /** No server gave a usable answer (refused connection, timeout, SERVFAIL, garbage). */
  | "unreachable"
  /** The update was applied but the record did not show up on the server within the timeout. */
  | "invisible"
  /** REFUSED: allow-update / update-policy does not admit us. */
  | "refused"
  /** NOTAUTH, or a TSIG error: the key was rejected (or the server is not authoritative for the zone); or the
   * answer's signature is missing or wrong. */
  | "key"
  /** NOTZONE: the zone is not on that server. */
  | "notzone"
  /** Zone discovery found no zone for the name on the server. */
  | "nozone"
  /** Zone discovery met a delegation to other name servers. */
  | "delegated"
  /** Any other rcode or an impossible situation (CNAME loop). */
  | "other";

export class DnsError extends Error {
  /**
   * `rcode`: what the server answered, when it answered with an error. `unverified`: that error answer to a signed
   * UPDATE was not signed, so nothing proves it came from the server (it may have applied the update).
   */
  constructor(
    message: string,
    readonly kind: DnsErrorKind,
    readonly rcode?: string,
    readonly unverified = false,
  ) {
    super(message);
    this.name = "DnsError";
  }

  /** True when trying again later may help (and the operator need not act). */
  get transient(): boolean {
    return this.kind === "unreachable" || this.kind === "invisible";
  }
}

export interface DnsClientOptions {
  servers: DnsServerAddress[];
  transport: "tcp" | "udp";
  /** Bounds each exchange with one server. */
  timeoutMs: number;
  tsig?: TsigKeyInput;
}

export interface Exchanged {
  message: DecodedMessage;
  /** The server that answered. */
  server: DnsServerAddress;
}

/** Sends one message to one server; tests replace it. */
export type Exchange = (
  server: DnsServerAddress,
  message: Uint8Array,
  opts: { transport: "tcp" | "udp"; timeoutMs: number },
) => Promise<Uint8Array>;

/** UDP first when configured, TCP when the UDP answer is truncated (RFC 7766); TCP otherwise. */
export const networkExchange: Exchange = async (server, message, opts) => {
  if (opts.transport === "udp") {
    const answer = await exchangeUdp(server, message, opts.timeoutMs);
    if (!readHeader(answer).tc) return answer;
  }
  return await exchangeTcp(server, message, opts.timeoutMs);
};

/** The bytes of the first question, lowercased, or null when there is none. */
function questionBytes(message: Uint8Array): Uint8Array | null {
  if (readHeader(message).qdcount === 0) return null;
  const end = readName(message, 12).next + 4;
  return message.slice(12, end).map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b));
}

export class DnsClient {
  readonly servers: DnsServerAddress[];
  readonly transport: "tcp" | "udp";
  readonly timeoutMs: number;
  readonly keyName?: string;
  readonly #signer?: TsigSigner;
  readonly #tsigAlgorithm?: string;
  readonly #exchange: Exchange;

  constructor(opts: DnsClientOptions, exchange: Exchange = networkExchange) {
    if (opts.servers.length === 0) throw new Error("A DNS client needs at least one server");
    this.servers = opts.servers;
    this.transport = opts.transport;
    this.timeoutMs = opts.timeoutMs;
    this.#exchange = exchange;
    if (opts.tsig) {
      this.#signer = new TsigSigner(opts.tsig);
      this.keyName = this.#signer.keyName;
      this.#tsigAlgorithm = opts.tsig.algorithm;
    }
  }

  get signed(): boolean {
    return this.#signer !== undefined;
  }

  /**
   * One request/response, trying the servers in order (or only `server`) until one answers usably. `what` names the
   * exchange in errors ("DNS update of X"). Returns answers of any rcode except SERVFAIL, which moves on. Only UPDATEs
   * are signed (when a key is configured); `update` words an unsigned error answer to a signed update like a signed
   * one (`updateRcodeError`), marked `unverified`.
   */
  async exchange(
    build: (id: number) => Uint8Array,
    opcode: number,
    what: string,
    opts: { server?: DnsServerAddress; timeoutMs?: number; update?: { zone: string; names: string[] } } = {},
  ): Promise<Exchanged> {
    await loadDnsCodec(); // dns-packet, at the first exchange (wire.ts)
    const servers = opts.server ? [opts.server] : this.servers;
    const problems: string[] = [];
    for (const server of servers) {
      const id = randomId();
      const unsigned = build(id);
      const signed = this.#signer && opcode === OPCODE_UPDATE ? await this.#signer.sign(unsigned) : undefined;
      let raw: Uint8Array;
      try {
        raw = await this.#exchange(server, signed?.bytes ?? unsigned, {
          transport: this.transport,
          timeoutMs: opts.timeoutMs ?? this.timeoutMs,
        });
      } catch (error) {
        if (!(error instanceof DnsTransportError)) throw error;
        problems.push(error.message);
        continue;
      }
      let message: DecodedMessage;
      try {
        message = decodeMessage(raw);
        const question = questionBytes(raw);
        const asked = questionBytes(unsigned);
        if (message.id !== id) throw new Error(`answer ID ${message.id} does not match the request's ${id}`);
        if (!message.qr) throw new Error("the answer is not marked as a response");
        if (message.opcode !== opcode) throw new Error(`answer opcode ${message.opcode} differs from ${opcode}`);
        if (question && asked && !sameBytes(question, asked)) throw new Error("the answer is for another question");
      } catch (error) {
        problems.push(`${server.display}: unusable answer: ${error instanceof Error ? error.message : error}`);
        continue;
      }
      if (signed) {
        let check: TsigCheck;
        try {
          check = await this.#signer!.verifyResponse(raw, signed.mac);
        } catch (error) {
          check = { ok: false, failure: "bad-mac", detail: error instanceof Error ? error.message : String(error) };
        }
        if (!check.ok) {
          // A signed TSIG error (BADTIME) is the server's own word: it changed nothing. An unsigned error answer
          // (BADSIG/BADKEY, or a bare REFUSED/NOTAUTH) says the same but proves nothing: `unverified`. A bad MAC on
          // another answer leaves it unknown whether the server acted (rcode undefined).
          if (opts.update && check.failure === "missing" && message.rcode !== RCODE.NOERROR) {
            throw updateRcodeError(message.rcode, {
              what,
              server: server.display,
              ...opts.update,
              keyName: this.keyName,
              unsignedAnswer: true,
            });
          }
          const rejected = check.failure === "server-error" ||
            (check.failure === "missing" && message.rcode !== RCODE.NOERROR);
          throw new DnsError(
            this.#tsigProblem(check, message, `${what} at ${server.display}`),
            "key",
            rejected ? rcodeName(message.rcode) : undefined,
            rejected && !check.verified,
          );
        }
      }
      if (message.rcode === RCODE.SERVFAIL) {
        problems.push(`${server.display} answered SERVFAIL`);
        continue;
      }
      return { message, server };
    }
    throw new DnsError(
      `${what} failed: no DNS server answered (${problems.join("; ")}): try again later`,
      "unreachable",
    );
  }

  /** Why a signed exchange failed; a rejected key always comes first ("TSIG key rejected by the server ..."). */
  #tsigProblem(check: Exclude<TsigCheck, { ok: true }>, message: DecodedMessage, exchange: string): string {
    const key = `"${this.keyName}" (${this.#tsigAlgorithm})`;
    const rejected = (detail: string, fix: string) =>
      `${KEY_REJECTED} (${detail}) for the ${exchange}${fix ? `: ${fix}` : ""}`;
    if (check.failure === "server-error") {
      if (check.tsigError === RCODE.BADSIG) {
        return rejected(
          `BADSIG: the secret of key ${key} differs from the server's`,
          "check tsig-secret or tsig-key-file",
        );
      }
      if (check.tsigError === RCODE.BADKEY) {
        // bind9 says BADKEY for a key it does not know; Knot DNS also for a known key the zone's ACL does not name.
        return rejected(
          `BADKEY: the server does not accept key ${key} here: it knows no such key, or the zone's ACL does not ` +
            "name it",
          "check tsig-key-name and tsig-algorithm against the server's key statement, and that the zone's " +
            "allow-update/update-policy (Knot: acl) grants the key",
        );
      }
      if (check.tsigError === RCODE.BADTIME) {
        return rejected(
          "BADTIME: this host's clock and the server's differ by more than 300 s",
          "fix the clocks (NTP)",
        );
      }
      return rejected(`${rcodeName(check.tsigError ?? 0)} for key ${key}`, "");
    }
    const failed = `${exchange} failed: `;
    if (check.failure === "missing") {
      if (message.rcode === RCODE.NOTAUTH || message.rcode === RCODE.REFUSED) {
        return rejected(
          `${rcodeName(message.rcode)} without a signature for key ${key}`,
          "check tsig-key-name, tsig-algorithm and the secret",
        );
      }
      return `${failed}the answer (${
        rcodeName(message.rcode)
      }) is not signed although the request was signed with key ${key}: ` +
        "the server may not know the key; check its key statement";
    }
    if (check.failure === "bad-time") {
      return `${failed}the answer's TSIG time is off (${check.detail}): fix the clocks (NTP)`;
    }
    if (check.failure === "wrong-key") return `${failed}the answer is ${check.detail}`;
    return `${failed}the answer's TSIG signature does not verify with key ${key} (${check.detail}): the secret may ` +
      "differ from the server's, or the answer was altered on the way";
  }

  /** A non-recursive query, never signed; any rcode but SERVFAIL is returned. */
  query(
    name: string,
    type: QueryType,
    opts: { server?: DnsServerAddress; timeoutMs?: number } = {},
  ): Promise<Exchanged> {
    return this.exchange((id) => buildQuery(id, name, type), OPCODE_QUERY, `DNS query for ${name} ${type}`, opts);
  }

  /** An UPDATE that must succeed: a non-NOERROR rcode becomes a DnsError saying what to fix. */
  async update(opts: Omit<UpdateOptions, "id">, server?: DnsServerAddress): Promise<Exchanged> {
    const names = [
      ...new Set([...(opts.add ?? []), ...(opts.remove ?? [])].map((r) => r.name).concat(opts.removeRrsets ?? [])),
    ];
    const what = `DNS update of ${names.join(", ")} in zone ${opts.zone}`;
    const result = await this.exchange((id) => buildUpdate({ ...opts, id }), OPCODE_UPDATE, what, {
      server,
      update: { zone: opts.zone, names },
    });
    const { rcode } = result.message;
    if (rcode === RCODE.NOERROR) return result;
    throw updateRcodeError(rcode, {
      what,
      server: result.server.display,
      zone: opts.zone,
      names,
      keyName: this.keyName,
    });
  }
}

/** How every error about a rejected key begins (issue 5: NOTAUTH → "TSIG key rejected by the server"). */
export const KEY_REJECTED = "TSIG key rejected by the server";

export interface UpdateFailureContext {
  /** "DNS update of N in zone Z". */
  what: string;
  /** The server that answered (display form). */
  server: string;
  zone: string;
  names: string[];
  /** The TSIG key the update was signed with, if any. */
  keyName?: string;
  /** The update was signed but the answer was not (the server may not know the key). */
  unsignedAnswer?: boolean;
}

/**
 * The error for an UPDATE answered with `rcode`, saying what to fix: REFUSED → "the server refused the update for
 * zone X: check allow-update/update-policy"; NOTAUTH → begins with "TSIG key rejected by the server" (RFC 8945 answers
 * a rejected key with NOTAUTH; RFC 2136 also uses it for a zone the server is not authoritative for); NOTZONE → "X is
 * not a zone on this server". All of them need the operator (421 on /sign).
 */
export function updateRcodeError(rcode: number, ctx: UpdateFailureContext): DnsError {
  const at = `${ctx.what} at ${ctx.server} failed: `;
  const name = rcodeName(rcode);
  const key = ctx.keyName ? `key ${ctx.keyName}` : undefined;
  const unverified = ctx.unsignedAnswer === true && key !== undefined;
  const unsigned = unverified
    ? ` (the answer is not signed although the update was signed with ${key}: the server may not know the key)`
    : "";
  switch (rcode) {
    case RCODE.REFUSED: {
      const who = key
        ? `for ${key}`
        : "for this host's address (no TSIG key is configured: set tsig-key-name and tsig-secret if the zone needs one)";
      return new DnsError(
        `${at}the server refused the update for zone ${ctx.zone}: check allow-update/update-policy ${who}${unsigned}`,
        "refused",
        name,
        unverified,
      );
    }
    case RCODE.NOTAUTH: {
      const fix = key
        ? `check tsig-key-name, tsig-algorithm and the secret of ${key} against the server's key statement, ` +
          "or fix zone = (or remove it to discover the zone) and dns-server ="
        : "no TSIG key is configured: set tsig-key-name and tsig-secret if the zone needs one, " +
          "or fix zone = (or remove it to discover the zone) and dns-server =";
      return new DnsError(
        `${KEY_REJECTED} for zone ${ctx.zone}, or the server is not authoritative for it ` +
          `(NOTAUTH answering the ${ctx.what} at ${ctx.server})${unsigned}: ${fix}`,
        "key",
        name,
        unverified,
      );
    }
    case RCODE.NOTZONE:
      return new DnsError(
        `${at}${ctx.zone} is not a zone on this server for ${ctx.names.join(", ")} (NOTZONE): ` +
          `fix zone = (or remove it to discover the zone)${unsigned}`,
        "notzone",
        name,
        unverified,
      );
    case RCODE.NOTIMP:
      return new DnsError(
        `${at}the server does not implement DNS UPDATE (NOTIMP): set dns-server to the zone's primary server${unsigned}`,
        "other",
        name,
        unverified,
      );
    case RCODE.FORMERR:
      return new DnsError(`${at}the server could not parse the update (FORMERR)${unsigned}`, "other", name, unverified);
    default:
      return new DnsError(`${at}the server answered ${name}${unsigned}`, "other", name, unverified);
  }
}
