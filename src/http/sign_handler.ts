/**
 * The management listener's handler: `POST /sign` (a PEM CSR in, the certificate chain out).
 *
 * Checks run in this order, each with its documented status:
 *   other path 404 · other method 405 (Allow: POST) · no Content-Length 411 · bad Content-Length 400 ·
 *   above max-size 413 (body not read) · body not complete within the time limit 408 · not a PEM CSR or bad
 *   signature 415 · no SAN / CN not among the SANs 415 · key, SAN type, must-staple, name count 403 ·
 *   authorization 403 · issuance: 200, 429, 421, 503, 500 (see src/issuance/service.ts).
 *
 * All I/O is passed in (`SignHandlerDeps`), so the handler runs in-process in tests with a fake issuer.
 */
import type { Config, IpNetwork } from "../config/types.ts";
import { formatIp, type IpAddress, parseIpAddress } from "../lib/ip.ts";
import { clientAddress } from "./client_address.ts";
import {
  checkCsrRules,
  type CsrParser,
  type CsrRulesResult,
  maxNamesForProfile,
  type ParsedCsr,
} from "../csr/intake.ts";
import { authenticationFromHeaders } from "../policy/authentication_header.ts";
import type { CompiledPolicy } from "../policy/authorize.ts";
import type { IssueRequest, IssueResult } from "../issuance/service.ts";
import { IssueFailure } from "../issuance/failure.ts";
import { statusOf } from "./respond.ts";
import type { Logger } from "../ops/log.ts";

export interface SignIssuer {
  issue(request: IssueRequest, deadline: number): Promise<IssueResult>;
}

/** What a request is handled with; swapped as a whole on reload. */
export interface SignContext {
  config: Config;
  policy: CompiledPolicy;
  issuer: SignIssuer;
}

export interface SignHandlerDeps extends SignContext {
  parser: CsrParser;
  log: Logger;
  /** The current context (config reload); defaults to the fixed one in these deps. */
  current?: () => SignContext;
  /** Longest time to receive the body (default 10 s): a slow client must not hold a connection forever. */
  bodyTimeoutMs?: number;
  /** Called once per /sign decision (metrics, audit). */
  onDecision?: (decision: SignDecision) => void;
  /** Other routes (health, metrics) tried before the 404. */
  extraRoutes?: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> | null;
}

/**
 * The audit record of one /sign request. Every key is always present (null when it does not apply), so a log
 * reader sees the same fields on every line.
 */
export interface SignDecision {
  client: string;
  status: number;
  /** The auth block that admitted the request; null before or without a match. */
  block: string | null;
  names: string[];
  outcome: string;
  durationMs: number;
  /** hit, miss or stale on a 200; null otherwise. */
  cache: string | null;
  /** On every 421, 429, 500 and 503 (also in the response body); null otherwise. */
  errorId: string | null;
}

/** A short id tying a failure's answer to its log lines. */
function newErrorId(): string {
  return crypto.randomUUID().slice(0, 8);
}

/** The message with "(error id X)" appended unless it already names the id. */
function withErrorId(message: string, errorId: string): string {
  return message.includes(errorId) ? message : `${message.trimEnd()} (error id ${errorId})`;
}

const TEXT = { "Content-Type": "text/plain; charset=utf-8" };

function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message.endsWith("\n") ? message : message + "\n", { status, headers: { ...TEXT, ...headers } });
}

/** The peer's address as text (zone id removed). */
export function peerAddress(info: Deno.ServeHandlerInfo): string {
  const addr = info.remoteAddr as Deno.NetAddr;
  return (addr.hostname ?? "").replace(/%.*$/, "");
}

export function createMgmtHandler(
  deps: SignHandlerDeps,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  const { log } = deps;
  let inflight = 0;

  return async (request, info) => {
    const started = Date.now();
    if (pathOf(request.url) !== "/sign") {
      const extra = deps.extraRoutes?.(request, info);
      if (extra) return await extra;
      const pathname = new URL(request.url).pathname;
      return text(404, `Not found: ${pathname}. Certificates are requested with POST /sign.`);
    }
    // One context for the whole request, so a reload in the middle never mixes two configs.
    const { config, policy, issuer } = deps.current?.() ?? deps;

    const { peer, client } = clientOf(info, request.headers.get("x-forwarded-for"), config.mgmt.trustedProxies);
    const decide = (response: Response, fields: Partial<SignDecision> & { outcome: string }): Response => {
      const decision: SignDecision = {
        client,
        status: response.status,
        block: fields.block ?? null,
        names: fields.names ?? [],
        outcome: fields.outcome,
        durationMs: Date.now() - started,
        cache: fields.cache ?? null,
        errorId: fields.errorId ?? null,
      };
      const level = response.status >= 500 ? "error" : response.status >= 400 ? "warn" : "info";
      log[level]("sign", { ...decision });
      deps.onDecision?.(decision);
      return response;
    };
    /** A failure answer (421, 429, 500, 503): its error id goes into the body and the audit record. */
    const fail = (
      status: number,
      message: string,
      headers: Record<string, string>,
      fields: Partial<SignDecision> & { outcome: string },
    ): Response => {
      const errorId = fields.errorId ?? newErrorId();
      return decide(text(status, withErrorId(message, errorId), headers), { ...fields, errorId });
    };

    if (request.method !== "POST") {
      return decide(text(405, "Only POST is supported on /sign.", { Allow: "POST" }), {
        outcome: "method not allowed",
      });
    }
    // A cap on concurrent /sign requests: beyond it, answer at once instead of queueing without bound.
    if (inflight >= config.mgmt.maxInflight) {
      await request.body?.cancel().catch(() => {});
      return fail(
        503,
        `Too many requests in progress (more than ${config.mgmt.maxInflight}); retry shortly.`,
        { "Retry-After": "5" },
        { outcome: "too many in flight" },
      );
    }
    inflight++;
    try {
      return await handleSign();
    } finally {
      inflight--;
    }

    async function handleSign(): Promise<Response> {
      const lengthHeader = request.headers.get("content-length");
      if (lengthHeader === null) {
        return decide(
          text(411, "Content-Length is required: send the CSR as the request body (curl --data-binary @host.csr)."),
          { outcome: "no content-length" },
        );
      }
      // Both framings at once is request smuggling's raw material (RFC 9112 §6.3): refuse, whatever the length says.
      if (request.headers.has("transfer-encoding")) {
        return decide(text(400, "Send either Content-Length or Transfer-Encoding, not both."), {
          outcome: "content-length with transfer-encoding",
        });
      }
      const digits = lengthHeader.trim();
      if (!/^[0-9]+$/.test(digits)) {
        return decide(text(400, `Content-Length "${lengthHeader.slice(0, 40)}" is not a non-negative integer.`), {
          outcome: "bad content-length",
        });
      }
      // Any digit string is an integer; one too long for a safe JS number is above every max-size anyway.
      const significant = digits.replace(/^0+(?=.)/, "");
      if (significant.length > 15 || Number(significant) > config.mgmt.maxSize) {
        const shown = significant.length > 20
          ? `${significant.slice(0, 20)}… (${significant.length} digits)`
          : significant;
        return decide(
          text(
            413,
            `The CSR is ${shown} bytes; this server accepts at most ${config.mgmt.maxSize} ([mgmt] max-size).`,
          ),
          { outcome: "too large" },
        );
      }
      const length = Number(significant);

      let body: Uint8Array;
      try {
        body = await readBody(request, length, config.mgmt.maxSize, deps.bodyTimeoutMs ?? config.mgmt.bodyTimeoutMs);
      } catch (error) {
        if (error instanceof BodyTimeout) {
          return decide(text(408, "The request body did not arrive in time."), { outcome: "body timeout" });
        }
        return decide(text(400, "The request body could not be read completely."), { outcome: "body error" });
      }

      const parsed = await deps.parser.parse(body);
      if (!parsed.ok) return decide(text(parsed.status, parsed.reason), { outcome: `csr refused: ${parsed.code}` });
      const csr = parsed.csr;

      // The name limit depends on the profile, which depends on the block: check with the larger limit first,
      // then again once the block is known.
      const rules = checkRules(csr, config.account.profile);
      if (!rules.ok) return decide(text(rules.status, rules.reason), { outcome: `csr refused: ${rules.code}` });
      const names = rules.names;

      if (!peer) {
        return decide(text(403, "The client address could not be determined."), { names, outcome: "no peer address" });
      }
      const decision = await policy.authorize({
        peer,
        authentication: authenticationFromHeaders(request.headers),
        body,
        names,
      });
      if (!decision.ok) return decide(text(403, decision.reason), { names, outcome: "not authorized" });
      const block = decision.block;
      const profile = block.profile ?? config.account.profile;
      if (profile !== config.account.profile) {
        const again = checkRules(csr, profile);
        if (!again.ok) {
          return decide(text(again.status, again.reason), {
            names,
            block: block.name,
            outcome: `csr refused: ${again.code}`,
          });
        }
      }
      const verification = config.verifications.get(block.verification);
      if (verification?.type === "http01") {
        const wildcard = names.find((n) => n.startsWith("*."));
        if (wildcard) {
          return decide(
            text(
              403,
              `${wildcard} is a wildcard name: CAs validate wildcards only over dns-01, but auth block "${block.name}" ` +
                `uses the http01 verification "${block.verification}".`,
            ),
            { names, block: block.name, outcome: "wildcard needs dns-01" },
          );
        }
      }

      try {
        const result = await issuer.issue(
          {
            csrDer: csr.der,
            csrSha256: csr.sha256,
            names,
            profile,
            verification: block.verification,
            storage: block.storage,
            client,
          },
          started + config.mgmt.signTimeoutMs,
        );
        const headers: Record<string, string> = {
          "Content-Type": "application/pem-certificate-chain",
          // The header's values are hit|miss; a due certificate served because its renewal failed is a hit, marked.
          "X-Acmems-Cache": result.cache === "miss" ? "miss" : "hit",
        };
        if (result.cache === "stale") headers["X-Acmems-Stale"] = "renewal-failed";
        if (result.renewAfter) headers["X-Acmems-Renew-After"] = rfc3339(result.renewAfter);
        if (result.window) {
          headers["X-Acmems-Renewal-Window"] = `${rfc3339(result.window.start)}/${rfc3339(result.window.end)}`;
        }
        return decide(new Response(result.chain, { status: 200, headers }), {
          names,
          block: block.name,
          outcome: result.cache === "miss" ? "issued" : result.cache === "stale" ? "served stale" : "cache hit",
          cache: result.cache,
        });
      } catch (error) {
        if (error instanceof IssueFailure) {
          const status = statusOf(error.kind);
          const headers: Record<string, string> = {};
          if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.retryAfterSeconds);
          return fail(status, error.message, headers, {
            names,
            block: block.name,
            outcome: `issue failed: ${status}`,
            errorId: error.errorId,
          });
        }
        const errorId = newErrorId();
        log.error("sign handler error", { errorId, error: error instanceof Error ? error.message : String(error) });
        return fail(500, `Internal error (error id ${errorId}); the server log has the details.`, {}, {
          names,
          block: block.name,
          outcome: "internal error",
          errorId,
        });
      }
    }
  };
}

/** Rule results by CSR (the parser hands out the same object for a repeated CSR) and name limit. */
const rulesMemo = new WeakMap<ParsedCsr, Map<number, CsrRulesResult>>();

/** `checkCsrRules`, a pure function of the CSR and the limit, remembered per parsed CSR. */
function checkRules(csr: ParsedCsr, profile?: string): CsrRulesResult {
  const maxNames = maxNamesForProfile(profile);
  let byLimit = rulesMemo.get(csr);
  if (!byLimit) rulesMemo.set(csr, byLimit = new Map());
  let result = byLimit.get(maxNames);
  if (!result) byLimit.set(maxNames, result = checkCsrRules(csr, { maxNames }));
  return result;
}

interface ClientOf {
  /** The address `ip =` rules see; null when the peer's address cannot be parsed. */
  peer: IpAddress | null;
  /** As text, for the audit record. */
  client: string;
}

/** Client addresses by peer address, per trusted-proxy list (a reload brings a new list and a new map). */
const clientMemo = new WeakMap<readonly IpNetwork[], Map<string, ClientOf>>();

/**
 * The client of a request: the TCP peer, or what X-Forwarded-For says behind a trusted proxy (`clientAddress`).
 * Without a header, or without trusted proxies, it depends only on the peer's address, and is remembered by it.
 */
function clientOf(
  info: Deno.ServeHandlerInfo,
  forwardedFor: string | null,
  trustedProxies: readonly IpNetwork[],
): ClientOf {
  const hostname = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
  const memoable = forwardedFor === null || trustedProxies.length === 0;
  let memo: Map<string, ClientOf> | undefined;
  if (memoable) {
    memo = clientMemo.get(trustedProxies);
    if (!memo) clientMemo.set(trustedProxies, memo = new Map());
    const known = memo.get(hostname);
    if (known) return known;
  }
  const direct = parseIpAddress(peerAddress(info));
  const peer = direct ? clientAddress(direct, forwardedFor, trustedProxies) : null;
  const found: ClientOf = { peer, client: peer ? formatIp(peer.family, peer.bytes) : peerAddress(info) };
  if (memo) {
    if (memo.size >= 1024) memo.clear();
    memo.set(hostname, found);
  }
  return found;
}

/** RFC 3339 in UTC without fractional seconds. */
function rfc3339(date: Date): string {
  const iso = date.toISOString();
  // YYYY-MM-DDTHH:MM:SS.sssZ for years 0 to 9999; other years have a sign and six digits.
  return iso.length === 24 ? iso.slice(0, 19) + "Z" : iso.replace(/\.\d{3}Z$/, "Z");
}

class BodyTimeout extends Error {}

/** Reads at most `length` (≤ max) bytes within the time limit. */
async function readBody(request: Request, length: number, max: number, timeoutMs: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // At the time limit the reader is cancelled, which ends a pending read (done); no race per chunk.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyTimeout();
      if (done) break;
      total += value.length;
      if (total > Math.min(length, max)) throw new Error("body longer than Content-Length");
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw timedOut ? new BodyTimeout() : error;
  } finally {
    clearTimeout(timer);
  }
  if (total !== length) throw new Error("body shorter than Content-Length");
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** The path of a request URL (`http://host:port/path?query`) without building a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}
