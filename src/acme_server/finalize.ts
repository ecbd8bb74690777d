/**
 * finalize, order polling and certificate download (RFC 8555 §7.4, §7.4.2).
 *
 * finalize takes the CSR through the same checks and the same issuance as `POST /sign`: src/csr/intake.ts (parse,
 * self-signature, `checkCsrRules` under the order's profile), then the issuer of the generation
 * (src/issuance/service.ts behind the compromised-key check) with the account's block, its verification, storage and
 * profile. The CSR's names must be exactly the order's identifiers (`badCSR` otherwise). A cache hit answers at once
 * (`valid`); otherwise the order is `processing` (with Retry-After) once `finalizeWaitMs` has passed and the host
 * polls. Nothing is ordered twice: the issuance runs once per order in this process, and a poll that finds a
 * `processing` order nobody here is running (another instance, a restart, a timed-out wait) asks the issuer again,
 * whose single flight, claim and cache join the running order or serve its result.
 *
 * Failures: `unavailable` (the CA is slow or down, or the order outlived sign-timeout and goes on in the background)
 * keeps the order `processing`, and a poll tries again once the failure's Retry-After has passed (so a host polling
 * every few seconds does not make acmems order every few seconds), for up to 15 minutes after finalize; any other
 * failure, or the 15 minutes, makes the order `invalid` with the problem document (rateLimited, badCSR,
 * rejectedIdentifier, serverInternal, …).
 */
import { loadX509 } from "../lib/x509.ts";
import { ariCertId, encodePem, splitPemChain } from "../acme/mod.ts";
import { b64url, fromB64url } from "../acme/encoding.ts";
import { checkCsrRules, maxNamesForProfile, type ParsedCsr } from "../csr/intake.ts";
import { IssueFailure, newErrorId } from "../issuance/failure.ts";
import { issueRequestFor, type IssueResult } from "../issuance/request.ts";
import { blockAdmitsName } from "../policy/authorize.ts";
import { cacheKey } from "../storage/cache_key.ts";
import type { AcmeFrontOrder } from "../storage/port.ts";
import { checkClientAddress } from "./accounts.ts";
import type { AcmeExchange, BoundAccount, Signed } from "./context.ts";
import { orderResponse, ownOrder } from "./orders.ts";
import { AcmeError, fromIssueFailure, problemDocument } from "./problems.ts";

/** How long an order may stay `processing` after finalize. */
const PROCESSING_LIMIT_MS = 15 * 60_000;

/** POST finalize. */
export async function finalize(ex: AcmeExchange, signed: Signed, orderId: string): Promise<Response> {
  const account = signed.account!;
  checkClientAddress(ex, account.block);
  const order = await ownOrder(ex, signed, orderId);
  if (order.status !== "ready") {
    throw new AcmeError("orderNotReady", `The order is ${order.status}, not ready: finalize it only once`);
  }
  if (Date.parse(order.expires) <= ex.state.now().getTime()) {
    throw new AcmeError("orderNotReady", "The order has expired: create a new one");
  }
  const csrText = signed.payload?.csr;
  if (typeof csrText !== "string") throw new AcmeError("malformed", "finalize needs a csr (base64url DER)");
  let der: Uint8Array;
  try {
    der = fromB64url(csrText);
  } catch {
    throw new AcmeError("badCSR", "The csr is not base64url");
  }
  const csr = await checkedCsr(ex, account, order, der);
  order.status = "processing";
  order.csr = b64url(csr.parsed.der);
  order.finalizedAt = ex.state.now().toISOString();
  await account.store.putOrder(order);
  start(ex, account, order, csr.parsed, csr.names);
  return orderResponse(ex, await settled(ex, account, order));
}

/** POST to an order URL: resumes a `processing` order nobody here is running, then answers it. */
export async function pollOrder(ex: AcmeExchange, signed: Signed, orderId: string): Promise<Response> {
  const account = signed.account!;
  const order = await ownOrder(ex, signed, orderId);
  const now = ex.state.now().getTime();
  if (order.status === "processing" && !ex.state.finalizing.has(order.id) && order.csr) {
    if (now - Date.parse(order.finalizedAt ?? order.createdAt) > PROCESSING_LIMIT_MS) {
      await fail(account, order, new AcmeError("serverInternal", "The upstream CA did not issue within 15 minutes"));
      return orderResponse(ex, (await account.store.getOrder(order.id)) ?? order);
    }
    if (order.resumeAfter && Date.parse(order.resumeAfter) > now) return orderResponse(ex, order);
    try {
      const csr = await checkedCsr(ex, account, order, fromB64url(order.csr));
      start(ex, account, order, csr.parsed, csr.names);
    } catch (error) {
      if (!(error instanceof AcmeError)) throw error;
      await fail(account, order, error);
    }
    return orderResponse(ex, await settled(ex, account, order));
  }
  return orderResponse(ex, order);
}

/** POST to a certificate URL (POST-as-GET): the PEM chain. */
export async function downloadCertificate(ex: AcmeExchange, signed: Signed, orderId: string): Promise<Response> {
  const order = await ownOrder(ex, signed, orderId);
  if (order.status !== "valid" || !order.chain) {
    throw new AcmeError("malformed", "This order has no certificate (yet)", { kind: "not-found" });
  }
  return new Response(order.chain, {
    status: 200,
    headers: { "Content-Type": "application/pem-certificate-chain" },
  });
}

/** The CSR parsed and checked as /sign checks it, its names equal to the order's identifiers. */
async function checkedCsr(
  ex: AcmeExchange,
  account: BoundAccount,
  order: AcmeFrontOrder,
  der: Uint8Array,
): Promise<{ parsed: ParsedCsr; names: string[] }> {
  const parsed = await ex.state.parser.parse(encodePem("CERTIFICATE REQUEST", der));
  if (!parsed.ok) throw new AcmeError("badCSR", parsed.reason);
  const rules = checkCsrRules(parsed.csr, { maxNames: maxNamesForProfile(profileOf(ex, account, order)) });
  if (!rules.ok) throw new AcmeError("badCSR", rules.reason);
  const wanted = new Set(order.identifiers.map((i) => i.value));
  const got = new Set(rules.names);
  const missing = [...wanted].filter((n) => !got.has(n));
  const extra = [...got].filter((n) => !wanted.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new AcmeError(
      "badCSR",
      "The CSR's names are not the order's identifiers" +
        (extra.length ? `; not in the order: ${extra.slice(0, 5).join(", ")}` : "") +
        (missing.length ? `; missing from the CSR: ${missing.slice(0, 5).join(", ")}` : ""),
    );
  }
  // The block may have changed since newOrder (a reload): its rules are the ones in force now.
  const refused = rules.names.filter((name) => !blockAdmitsName(account.block, name));
  if (refused.length > 0) {
    throw new AcmeError(
      "rejectedIdentifier",
      `${refused.slice(0, 5).join(", ")} no longer allowed for this account (auth block "${account.block.name}")`,
    );
  }
  return { parsed: parsed.csr, names: rules.names };
}

function profileOf(ex: AcmeExchange, account: BoundAccount, order: AcmeFrontOrder): string | undefined {
  return order.profile ?? account.block.profile ?? ex.context.config.account.profile;
}

/** Starts the issuance of `order` in this process (once). */
function start(ex: AcmeExchange, account: BoundAccount, order: AcmeFrontOrder, csr: ParsedCsr, names: string[]): void {
  const { state, context } = ex;
  if (state.finalizing.has(order.id)) return;
  const profile = profileOf(ex, account, order);
  const { block } = account;
  const running = (async () => {
    let result: IssueResult;
    try {
      const request = issueRequestFor(csr, names, profile, block, ex.client);
      // The profile the client asked for in newOrder goes to every CA of the block's chain.
      if (order.profile) request.requestedProfile = order.profile;
      result = await context.issuer.issue(
        request,
        Date.now() + context.config.mgmt.signTimeoutMs,
      );
    } catch (error) {
      if (error instanceof IssueFailure && error.kind === "unavailable") {
        state.log.warn("acme order still processing", { order: order.id, reason: error.message });
        const wait = Math.max(error.retryAfterSeconds ?? 10, state.processingRetryAfter);
        await account.store.putOrder({
          ...order,
          status: "processing",
          resumeAfter: new Date(state.now().getTime() + wait * 1000).toISOString(),
        });
        return;
      }
      if (error instanceof IssueFailure) return await fail(account, order, fromIssueFailure(error));
      const errorId = newErrorId();
      state.log.error("acme finalize error", { errorId, order: order.id, error: String(error) });
      return await fail(account, order, new AcmeError("serverInternal", `Internal error (error id ${errorId})`));
    }
    await succeed(ex, account, order, csr, profile, result);
  })().catch((error) => {
    state.log.error("acme order not recorded", { order: order.id, error: String(error) });
  }).finally(() => state.finalizing.delete(order.id));
  state.finalizing.set(order.id, running);
}

/** The order as stored once the issuance ended or `finalizeWaitMs` passed. */
async function settled(ex: AcmeExchange, account: BoundAccount, order: AcmeFrontOrder): Promise<AcmeFrontOrder> {
  const running = ex.state.finalizing.get(order.id);
  if (running) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([running, new Promise((resolve) => timer = setTimeout(resolve, ex.state.finalizeWaitMs))]);
    clearTimeout(timer);
  }
  return (await account.store.getOrder(order.id)) ?? order;
}

async function fail(account: BoundAccount, order: AcmeFrontOrder, error: AcmeError): Promise<void> {
  const doc = problemDocument(error);
  await account.store.putOrder({
    ...order,
    status: "invalid",
    error: { type: doc.type as string, detail: doc.detail as string },
  });
}

async function succeed(
  ex: AcmeExchange,
  account: BoundAccount,
  order: AcmeFrontOrder,
  csr: ParsedCsr,
  profile: string | undefined,
  result: IssueResult,
): Promise<void> {
  const leafPem = splitPemChain(result.chain)[0];
  let certId: string | undefined;
  try {
    certId = ariCertId(leafPem);
  } catch {
    certId = undefined; // no AKI: no ARI for it, nothing else changes
  }
  if (certId) {
    const x509 = await loadX509();
    const leaf = new x509.X509Certificate(leafPem);
    const window = result.window ??
      (result.renewAfter ? windowFrom(result.renewAfter, leaf.notAfter) : undefined);
    await account.store.putCertificate({
      certId,
      account: account.record.id,
      order: order.id,
      storage: account.block.storage,
      // The entry actually served (a block's other CA, a failover); the default CA's key when none was involved.
      cacheKey: result.key ?? await cacheKey(ex.context.config.account.acmeServer, profile, csr.der),
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      ...(window ? { window: { start: window.start.toISOString(), end: window.end.toISOString() } } : {}),
    });
  }
  await account.store.putOrder({ ...order, status: "valid", chain: result.chain, certId });
  ex.state.log.info("acme order valid", {
    order: order.id,
    account: account.record.id,
    cache: result.cache,
    names: order.identifiers.map((i) => i.value),
  });
}

/** A renewal window from acmems' own renewal point: from then until half of the remaining lifetime is left. */
export function windowFrom(renewAfter: Date, notAfter: Date): { start: Date; end: Date } {
  const start = renewAfter.getTime();
  const end = Math.max(start + 60_000, start + (notAfter.getTime() - start) / 2);
  return { start: new Date(start), end: new Date(end) };
}
