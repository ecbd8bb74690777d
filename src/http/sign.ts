/**
 * The `POST /sign` pipeline: a PEM CSR in, the certificate chain out (the route and the in-flight cap are
 * mgmt_router.ts's).
 *
 * Checks run in this order. A refusal is a failure kind (src/issuance/failure.ts); http/respond.ts's table gives
 * its status, Retry-After and body.
 *   1. a method other than POST                                         method-not-allowed (with Allow: POST)
 *   2. before the body (`refuseBeforeBody`): no client address, or no
 *      auth block that this address and Authentication header could
 *      pass (the body is neither read nor parsed, no slot is taken)    refused
 *   3. more than [mgmt] max-inflight in progress, or more than
 *      max-inflight-per-client for this client (mgmt_router.ts)       busy
 *   4. no Content-Length                                                length-required
 *   5. Content-Length with Transfer-Encoding, or not a non-negative
 *      integer                                                          bad-request
 *   6. above [mgmt] max-size (the body is not read)                     too-large
 *   7. the body not complete within body-timeout                        body-timeout
 *      the body unreadable, shorter or longer than announced            bad-request
 *   8. not a PEM CSR, bad signature (src/csr/intake.ts)                 unusable-csr
 *   9. no SAN, a CN not among the SANs                                  unusable-csr
 *      key, signature hash, SAN type, must-staple, name count, name     refused
 *  10. no auth block admits the client for every name (the HMAC, the
 *      names)                                                           refused
 *  11. the rules of 9 again under the admitting block's profile         as in 9
 *  12. a wildcard name under an http01 verification                     refused
 *  13. issuance: 200 with the chain and X-Acmems-* headers, or the issuer's `IssueFailure` (rate-limited,
 *      names-refused, unavailable, internal, refused); anything else thrown is internal, logged with its error id.
 *
 * An exact repeat of a request admitted before under the same context (same client, Authentication header and body
 * bytes; `SignDeps.repeats`) goes from 7 to 13: steps 8–12 are a pure function of those inputs and gave "admitted".
 *
 * Step 2 moved "no client address" and the address and header part of the authorization ahead of the body, so an
 * outsider can neither hold slots with stalled bodies nor make the server parse CSRs; an admitted client sees the
 * same answers as before.
 *
 * Every decision is one audit record (audit.ts); kinds that carry an error id put the same id in the body and the
 * record. All I/O is passed in (`SignDeps`, `SignContext`), so the pipeline runs in-process in tests with a fake CA.
 */
import type { AuthBlock, Config } from "../config/types.ts";
import type { IpAddress } from "../lib/ip.ts";
import { checkCsrRules, type CsrRulesResult, maxNamesForProfile, type ParsedCsr } from "../csr/intake.ts";
import type { CsrParser } from "../csr/parser.ts";
import { authenticationFromHeaders } from "../policy/authentication_header.ts";
import type { CompiledPolicy } from "../policy/authorize.ts";
import { IssueFailure, newErrorId } from "../issuance/failure.ts";
import type { Logger } from "../ops/log.ts";
import { type IssueRequest, issueRequestFor, type IssueResult } from "../issuance/request.ts";
import type { AdmittedRepeats, AdmittedRequest } from "./admitted_repeats.ts";
import { type DecisionFields, logDecision, type SignDecision, signDecision } from "./audit.ts";
import { checkFraming, receiveBody } from "./body.ts";
import type { BodyDeadlines } from "./body_deadlines.ts";
import { clientOf } from "./client_address.ts";
import { carriesErrorId, failureResponse, statusOf } from "./respond.ts";

/** What /sign asks the issuer for. */
/** The issuer as /sign sees it: a result by the deadline (epoch ms), or an `IssueFailure` thrown. */
export interface SignIssuer {
  issue(request: IssueRequest, deadline: number): Promise<IssueResult>;
  /** Optional: `issue`'s answer when it is a cache hit known without waiting, else null (then `issue` is asked). */
  hitNow?(request: IssueRequest): IssueResult | null;
}

/** What a request is handled with; swapped as a whole on reload. */
export interface SignContext {
  config: Config;
  policy: CompiledPolicy;
  issuer: SignIssuer;
}

/** What stays the same across reloads. */
export interface SignDeps {
  parser: CsrParser;
  log: Logger;
  /** Longest time to receive the body (default: [mgmt] body-timeout): a slow client must not hold a connection. */
  bodyTimeoutMs?: number;
  /** Times body reads with one shared timer (the server's; default: a timer per read). */
  bodyDeadlines?: BodyDeadlines;
  /**
   * The requests come from acmems' own listeners: Deno's HTTP server frames each body by its Content-Length, so a
   * body is read whole (`body.ts`, `readFramed`). Default false: a Request made in-process is read through a reader
   * that stops at the length itself.
   */
  framedBodies?: boolean;
  /** Called once per /sign decision (metrics, audit). */
  onDecision?: (decision: SignDecision) => void;
  /** Remembers admitted requests so an exact repeat skips steps 8–12 (admitted_repeats.ts); default: none. */
  repeats?: AdmittedRepeats;
}

/**
 * One /sign request under one context (a reload in the middle never mixes two configs): who asks, and how each
 * answer is recorded. Every answer leaves through `decide` or `fail`, so every answer has its audit record.
 */
export class SignExchange {
  /** The address `ip =` rules see; null when the peer's address cannot be parsed. */
  readonly peer: IpAddress | null;
  /** As text, for the audit record. */
  readonly client: string;

  constructor(
    readonly deps: SignDeps,
    readonly context: SignContext,
    readonly request: Request,
    info: Deno.ServeHandlerInfo,
    readonly started: number,
  ) {
    const found = clientOf(info, request.headers.get("x-forwarded-for"), context.config.mgmt.trustedProxies);
    this.peer = found.peer;
    this.client = found.client;
  }

  #authentication: string | null | undefined;

  /** The `Authentication` header (null when absent), read once: the checks before and after the body both need it. */
  get authentication(): string | null {
    if (this.#authentication === undefined) this.#authentication = authenticationFromHeaders(this.request.headers);
    return this.#authentication;
  }

  /** Records the decision (log line and `onDecision`) and returns the response. */
  decide(response: Response, fields: DecisionFields): Response {
    const decision = signDecision(this.client, response.status, Date.now() - this.started, fields);
    logDecision(this.deps.log, decision);
    this.deps.onDecision?.(decision);
    return response;
  }

  /** The answer to a failure; kinds that carry an error id get one (the failure's, else a new one) in both places. */
  fail(failure: IssueFailure, fields: DecisionFields): Response {
    const errorId = carriesErrorId(failure.kind) ? failure.errorId ?? newErrorId() : undefined;
    return this.decide(failureResponse(failure, errorId), { ...fields, errorId: errorId ?? null });
  }

  /** The answer to anything unexpected thrown: logged as `event` with a new error id, answered `internal` with it. */
  failInternal(error: unknown, event: string, fields: DecisionFields): Response {
    const errorId = newErrorId();
    this.deps.log.error(event, { errorId, error: error instanceof Error ? error.message : String(error) });
    const failure = new IssueFailure(
      "internal",
      `Internal error (error id ${errorId}); the server log has the details.`,
      undefined,
      errorId,
    );
    return this.fail(failure, fields);
  }
}

/** The answer to anything but POST, or null for a POST. */
export function refuseMethod(exchange: SignExchange): Response | null {
  if (exchange.request.method === "POST") return null;
  const response = failureResponse(new IssueFailure("method-not-allowed", "Only POST is supported on /sign."));
  response.headers.set("Allow", "POST");
  return exchange.decide(response, { outcome: "method not allowed" });
}

/**
 * The answer to a client that cannot be admitted whatever its body says, or null: no client address, or no auth
 * block whose `ip` networks hold the client and whose `hmac` (if any) the `Authentication` header could satisfy
 * (`CompiledPolicy.precheck`). The body is cancelled unread.
 */
export function refuseBeforeBody(exchange: SignExchange): Promise<Response> | null {
  const { request, peer } = exchange;
  let failure: IssueFailure;
  let fields: DecisionFields;
  if (!peer) {
    failure = new IssueFailure("refused", "The client address could not be determined.");
    fields = { outcome: "no peer address" };
  } else {
    const precheck = exchange.context.policy.precheck({
      peer,
      authentication: exchange.authentication,
    });
    // Admitted: null at once (no promise on the hit path).
    if (precheck.ok) return null;
    failure = new IssueFailure("refused", precheck.reason);
    fields = { outcome: "not authorized before the body", ...precheck.detail };
  }
  return (async () => {
    await request.body?.cancel().catch(() => {});
    return exchange.fail(failure, fields);
  })();
}

/**
 * The auth block that admits this client (its address, the HMAC over `body`) for every one of `names`, or the 403
 * answer (`refusedOutcome` in the audit record). Shared by /sign and /revoke.
 */
export async function authorizeExchange(
  exchange: SignExchange,
  body: Uint8Array,
  names: string[],
  refusedOutcome: string,
): Promise<AuthBlock | Response> {
  const peer = exchange.peer;
  if (!peer) {
    return exchange.fail(new IssueFailure("refused", "The client address could not be determined."), {
      names,
      outcome: "no peer address",
    });
  }
  const decision = await exchange.context.policy.authorize({
    peer,
    authentication: exchange.authentication,
    body,
    names,
  });
  if (!decision.ok) {
    return exchange.fail(new IssueFailure("refused", decision.reason), {
      names,
      outcome: refusedOutcome,
      ...decision.detail,
    });
  }
  return decision.block;
}

/** The body within `max-size` and `body-timeout`, or the answer to a framing or reading failure. */
export async function receiveExchangeBody(exchange: SignExchange): Promise<Uint8Array | Response> {
  const { request } = exchange;
  const { mgmt } = exchange.context.config;
  const framing = checkFraming(request.headers, mgmt.maxSize);
  if (!framing.ok) return exchange.fail(framing.failure, { outcome: framing.outcome });
  const timeoutMs = exchange.deps.bodyTimeoutMs ?? mgmt.bodyTimeoutMs;
  const { bodyDeadlines, framedBodies } = exchange.deps;
  const received = await receiveBody(request, framing.length, mgmt.maxSize, timeoutMs, bodyDeadlines, framedBodies);
  if (!received.ok) return exchange.fail(received.failure, { outcome: received.outcome });
  return received.body;
}

/** The pipeline after the method, the address check and the in-flight cap: framing, body, CSR, rules, authorization, issuance. */
export async function handleSign(exchange: SignExchange): Promise<Response> {
  const { deps, started } = exchange;
  const { config, issuer } = exchange.context;

  const body = await receiveExchangeBody(exchange);
  if (body instanceof Response) return body;

  // An exact repeat of an admitted request skips what it decided before issuance (admitted_repeats.ts).
  let admitted = deps.repeats?.find(exchange.context, exchange.client, exchange.authentication, body);
  if (!admitted) {
    const decided = await admit(exchange, body);
    if (decided instanceof Response) return decided;
    admitted = decided;
    deps.repeats?.remember(exchange.context, exchange.client, exchange.authentication, body, admitted);
  }
  const { names, block, request } = admitted;

  try {
    const result = issuer.hitNow?.(request) ?? await issuer.issue(request, started + config.mgmt.signTimeoutMs);
    return exchange.decide(new Response(result.chain, { status: 200, headers: resultHeaders(result) }), {
      names,
      block: block.name,
      outcome: result.cache === "miss" ? "issued" : result.cache === "stale" ? "served stale" : "cache hit",
      cache: result.cache,
    });
  } catch (error) {
    if (error instanceof IssueFailure) {
      return exchange.fail(error, { names, block: block.name, outcome: `issue failed: ${statusOf(error.kind)}` });
    }
    return exchange.failInternal(error, "sign handler error", { names, block: block.name, outcome: "internal error" });
  }
}

/** Steps 8–12: the CSR, its rules, the authorization and the block's checks; the issue request, or the refusal. */
async function admit(exchange: SignExchange, body: Uint8Array): Promise<AdmittedRequest | Response> {
  const { deps } = exchange;
  const { config } = exchange.context;
  const parsed = deps.parser.parseKnown?.(body) ?? await deps.parser.parse(body);
  if (!parsed.ok) {
    return exchange.fail(new IssueFailure(parsed.kind, parsed.reason), { outcome: `csr refused: ${parsed.code}` });
  }
  const csr = parsed.csr;

  // The name limit depends on the profile, which depends on the block: check with the larger limit first,
  // then again once the block is known.
  const rules = checkRules(csr, config.account.profile);
  if (!rules.ok) {
    return exchange.fail(new IssueFailure(rules.kind, rules.reason), { outcome: `csr refused: ${rules.code}` });
  }
  const names = rules.names;

  const decision = await authorizeExchange(exchange, body, names, "not authorized");
  if (decision instanceof Response) return decision;
  const block = decision;
  const profile = block.profile ?? config.account.profile;
  if (profile !== config.account.profile) {
    const again = checkRules(csr, profile);
    if (!again.ok) {
      return exchange.fail(new IssueFailure(again.kind, again.reason), {
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
      return exchange.fail(
        new IssueFailure(
          "refused",
          `${wildcard} is a wildcard name: CAs validate wildcards only over dns-01, but auth block "${block.name}" ` +
            `uses the http01 verification "${block.verification}".`,
        ),
        { names, block: block.name, outcome: "wildcard needs dns-01" },
      );
    }
  }
  return { names, block, profile, request: issueRequestFor(csr, names, profile, block, exchange.client) };
}

/** The headers of a 200: the chain's content type and the X-Acmems-* cache and renewal hints. */
function resultHeaders(result: IssueResult): Record<string, string> {
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
  return headers;
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

/** RFC 3339 in UTC without fractional seconds. */
function rfc3339(date: Date): string {
  const ms = date.getTime();
  let text = rfc3339Memo.get(ms);
  if (text === undefined) {
    if (rfc3339Memo.size >= 256) rfc3339Memo.clear();
    rfc3339Memo.set(ms, text = rfc3339Uncached(date));
  }
  return text;
}

/** Formatted times by epoch ms: a cached certificate's hint headers carry the same few times on every hit. */
const rfc3339Memo = new Map<number, string>();

function rfc3339Uncached(date: Date): string {
  const iso = date.toISOString();
  // YYYY-MM-DDTHH:MM:SS.sssZ for years 0 to 9999; other years have a sign and six digits.
  return iso.length === 24 ? iso.slice(0, 19) + "Z" : iso.replace(/\.\d{3}Z$/, "Z");
}
