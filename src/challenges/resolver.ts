/**
 * Drives an order's authorizations (lego's "prober"): for each pending authorization, the solver of the request's
 * `[verification]` block presents its challenge; once every challenge is in place the CA is told to look, then the
 * authorizations are polled until they are decided.
 *
 * Contract:
 * - Every challenge presented is cleaned up, whatever happens after (a failure, a lost claim, a timeout).
 * - Nothing is answered before everything is presented (a name and its wildcard share one TXT owner).
 * - A challenge an earlier holder already answered (a resumed order) is presented and waited for, not answered again.
 * - Before each CA call `guard.check()` runs, and every CA call gets `guard.signal`: a holder that lost its claim
 *   makes no further CA call.
 * - A name that fails validation throws `ValidationFailed` (the caller's failure kind `names-refused`).
 * - The CA is not trusted with the names: before any solver runs, every authorization's identifier (type, value and
 *   wildcard flag) must be one acmems ordered (`names`). One that is not fails the whole order as `unavailable`
 *   (the CA misbehaves, not the client), logged with the CA's URLs; no challenge of the order is presented.
 *   Identifiers compare by type too: an ordered IP address (RFC 8738, `ipName` text) is an `ip` identifier, never
 *   a `dns` one.
 * - IP addresses are validated over http-01 only (RFC 8738 §7): an ordered IP address with any other solver fails
 *   as `refused` before any authorization is fetched (the config refuses such a block already).
 * - The block's verification decides the challenge type (`solver.challengeType`): a pending authorization whose
 *   challenges do not include it fails the order as `names-refused` (421) naming the types the CA offered, before
 *   any challenge of the order is presented.
 * - Each task carries the order's account URL (`client.accountUrl`): dns-account-01 derives its label from it.
 */
import {
  type AcmeAuthorization,
  type AcmeClient,
  type AcmeOrder,
  type ProblemDocument,
  retryAfterOf,
  toIdentifier,
} from "../acme/mod.ts";
import { ipName } from "../csr/names.ts";
import { IssueFailure, newErrorId } from "../issuance/failure.ts";
import type { Logger } from "../ops/log.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "./solver.ts";

/** A name's authorization did not become valid. */
export class ValidationFailed extends Error {
  constructor(
    readonly identifier: string,
    readonly detail: string,
    /** The challenge's error (its `type` says e.g. `caa`: a refusal of this CA only, src/ca/failover.ts). */
    readonly problem?: ProblemDocument,
  ) {
    super(`Validation of ${identifier} failed: ${detail}`);
  }
}

/** What says whether CA calls may go on (the storage claim's LeaseKeeper). */
export interface CallGuard {
  readonly signal: AbortSignal;
  /** Throws when no further CA call may start. */
  check(): void;
}

export interface Authorize {
  client: AcmeClient;
  order: AcmeOrder;
  /** The names acmems ordered (`*.` for a wildcard): the only identifiers a challenge is presented for. */
  names: readonly string[];
  solver: ChallengeSolver;
  /** Epoch ms after which polling gives up. */
  deadline: number;
  guard: CallGuard;
  log: Logger;
  /** Retry-After of the failure for an authorization nobody ordered (default 10 s). */
  retryAfterSeconds?: number;
}

interface ToPoll {
  authorization: AcmeAuthorization;
  challengeUrl: string;
}

/** Makes every authorization of `order` valid, or throws; always cleans up what it presented. */
export async function resolveAuthorizations(opts: Authorize): Promise<void> {
  const { client, order, solver, deadline, guard, log } = opts;
  const signal = guard.signal;
  refuseIpWithoutHttp01(opts);
  guard.check();
  const authorizations = await Promise.all(
    order.authorizations.map((url) => client.getAuthorization(url, { signal })),
  );
  refuseForeignAuthorizations(authorizations, opts);
  refuseUnofferedType(authorizations, solver.challengeType);
  const presented: ChallengeTask[] = [];
  const toAnswer: ToPoll[] = [];
  /** Challenges an earlier holder already answered (a resumed order): present and wait, do not answer again. */
  const answered: ToPoll[] = [];
  // Wildcard authorizations first: a solver that refuses (dns-persist-01's missing record) names the record for the
  // wildcard, which (with policy=wildcard) serves the base name too, so one published record is enough.
  const inOrder = [...authorizations].sort((a, b) => Number(b.wildcard === true) - Number(a.wildcard === true));
  try {
    for (const authorization of inOrder) {
      const name = displayName(authorization);
      log.debug("acme authorization", { name, status: authorization.status, url: authorization.url });
      if (authorization.status === "valid") continue; // reused from an earlier order
      if (authorization.status !== "pending") {
        throw new ValidationFailed(name, `its authorization is ${authorization.status}`);
      }
      const challenge = authorization.challenges.find((c) => c.type === solver.challengeType)!;
      if (challenge.status === "valid") continue;
      // dns-persist-01 has no token (the record names the account instead).
      const token = challenge.type === "dns-persist-01" ? challenge.token ?? "" : challenge.token;
      if (typeof token !== "string") {
        throw new Error(`The CA sent a ${challenge.type} challenge without a token`);
      }
      const task: ChallengeTask = {
        identifier: authorization.identifier.value,
        wildcard: authorization.wildcard === true,
        token,
        keyAuthorization: challenge.type === "dns-persist-01" ? "" : await client.keyAuthorization(token),
        challenge,
        accountUrl: client.accountUrl,
      };
      await solver.present(task);
      presented.push(task);
      (challenge.status === "processing" ? answered : toAnswer).push({ authorization, challengeUrl: challenge.url });
    }
    // Everything is in place before the CA is told to look (a name and its wildcard share one TXT owner).
    guard.check();
    const replies = await Promise.all(toAnswer.map((a) => client.respondToChallenge(a.challengeUrl, { signal })));
    if (toAnswer.length > 0) {
      log.debug("acme challenges answered", { type: solver.challengeType, count: toAnswer.length });
    }
    guard.check();
    // The first poll comes after the CA's Retry-After on the challenge answer, else after the poll pace's first
    // interval (~50 ms): a CA often decides within milliseconds; later polls back off gently (src/acme/poll.ts).
    const results = await Promise.all(
      [...toAnswer, ...answered].map((a, i) =>
        client.pollAuthorization(a.authorization.url, { deadline, signal, firstPollAfter: retryAfterOf(replies[i]) })
      ),
    );
    for (const result of results) {
      log.debug("acme authorization polled", { name: displayName(result), status: result.status });
      if (result.status === "valid") continue;
      const failed = result.challenges.find((c) => c.error);
      const detail = failed?.error?.detail ?? `its authorization is ${result.status}`;
      throw new ValidationFailed(displayName(result), detail, failed?.error);
    }
  } finally {
    await Promise.all(presented.map((task) => solver.cleanup(task).catch(() => {})));
  }
}

/** Throws (kind `unavailable`) at the first authorization whose identifier is not one of the ordered names. */
function refuseForeignAuthorizations(authorizations: AcmeAuthorization[], opts: Authorize): void {
  const ordered = new Set(opts.names.map(orderedKey));
  const foreign = authorizations.find((a) => !ordered.has(authorizationKey(a)));
  if (!foreign) return;
  const errorId = newErrorId();
  const ca = opts.client.directoryUrl as string | undefined;
  const name = describeIdentifier(foreign);
  opts.log.error("ca sent an authorization for a name not ordered", {
    errorId,
    ca,
    order: opts.order.url,
    authorization: foreign.url,
    identifier: name,
    ordered: opts.names,
  });
  throw new IssueFailure(
    "unavailable",
    `The CA${ca ? ` at ${ca}` : ""} answered order ${opts.order.url} with an authorization for ${name} ` +
      `(${foreign.url}), a name not ordered ` +
      `(ordered: ${opts.names.join(", ")}): no challenge was answered; the CA misbehaves, tell its operator or ` +
      "switch acme-server",
    opts.retryAfterSeconds ?? 10,
    errorId,
  );
}

/** The `[verification]` type that answers each challenge type (for the message of `refuseUnofferedType`). */
const VERIFICATION_TYPE: Record<string, string> = {
  "http-01": "http01",
  "dns-01": "dns01-dnsUpdate",
  "dns-account-01": "dns-account01",
  "dns-persist-01": "dns-persist01",
};

/**
 * Throws (`names-refused`) at the first pending authorization that offers no challenge of `type`, naming the types
 * it offered: the operator must pick another verification for the name, or another CA.
 */
function refuseUnofferedType(authorizations: AcmeAuthorization[], type: string): void {
  for (const authorization of authorizations) {
    if (authorization.status !== "pending") continue;
    const challenges = Array.isArray(authorization.challenges) ? authorization.challenges : [];
    if (challenges.some((c) => c.type === type)) continue;
    const offered = [...new Set(challenges.map((c) => String(c.type)))];
    const usable = offered.filter((t) => VERIFICATION_TYPE[t]).map((t) => `type = ${VERIFICATION_TYPE[t]}`);
    throw new ChallengeError(
      `The CA did not offer ${type} for ${displayName(authorization)}; it offered ` +
        `${offered.length > 0 ? offered.join(", ") : "no challenge at all"}: ` +
        (usable.length > 0
          ? `use a [verification] with ${usable.join(" or ")} for this name, or another CA`
          : "use another CA for this name"),
      "names-refused",
    );
  }
}

/** Throws (kind `refused`) when an ordered name is an IP address and the solver is not http-01's. */
function refuseIpWithoutHttp01(opts: Authorize): void {
  if (opts.solver.challengeType === "http-01") return;
  const ip = opts.names.find((name) => ipName(name) !== null);
  if (ip === undefined) return;
  throw new IssueFailure(
    "refused",
    `${ip} is an IP address: CAs validate IP addresses over http-01 only (RFC 8738), not ` +
      `${opts.solver.challengeType}; give the auth block with ip-identifiers an http01 verification`,
  );
}

/** `type|wildcard|value` of an ordered name (`*.` → the wildcard flag), as the CA must echo it back. */
function orderedKey(name: string): string {
  const wildcard = name.startsWith("*.");
  const { type, value } = toIdentifier(wildcard ? name.slice(2) : name);
  const shown = type === "ip" ? ipName(value) ?? value : value;
  return `${type}|${wildcard}|${shown.toLowerCase()}`;
}

/** The same key for an authorization; a malformed identifier gets a key no ordered name has. */
function authorizationKey(authorization: AcmeAuthorization): string {
  const { type, value } = authorization.identifier ?? {};
  if (typeof type !== "string" || typeof value !== "string") return "malformed";
  const shown = type === "ip" ? ipName(value) ?? value : value;
  return `${type}|${authorization.wildcard === true}|${shown.toLowerCase()}`;
}

/** An authorization's identifier for a message: its name (`*.` for wildcards), prefixed by a type other than dns. */
function describeIdentifier(authorization: AcmeAuthorization): string {
  const { type, value } = authorization.identifier ?? {};
  if (typeof value !== "string") return `a malformed identifier ${JSON.stringify(authorization.identifier)}`;
  return `${type === "dns" ? "" : `${type} `}${displayName(authorization)}`;
}

/** The authorization's name as a client wrote it (`*.` for wildcards). */
function displayName(authorization: AcmeAuthorization): string {
  return `${authorization.wildcard ? "*." : ""}${authorization.identifier.value}`;
}
