/**
 * An in-process fake ACME CA for handler tests: it implements the part of `AcmeClient` the issuer uses, issues
 * real certificates (for the CSR's key and names, signed by a throwaway CA key), checks http-01 answers through a
 * callback, and can be told to fail in each of the ways a real CA fails.
 */
import * as x509 from "@peculiar/x509";
import {
  type AcmeAuthorization,
  type AcmeChallenge,
  type AcmeClient,
  AcmeNetworkError,
  type AcmeOrder,
  AcmeProblem,
  type CertificateChain,
} from "../../src/acme/mod.ts";

export interface FakeCaOptions {
  /** Thrown by newOrder (rate limits, network errors, …) when it returns an error for the order asked for. */
  newOrderError?: (opts: { identifiers: unknown[]; profile?: string; replaces?: string }) => Error | undefined;
  /** Thrown by finalize (badCSR, …). */
  finalizeError?: () => Error;
  /** Names whose validation fails, with the CA's detail (and, as `type|detail`, its problem type: `caa|…`). */
  failValidation?: Record<string, string>;
  /** Names whose authorization is already valid (authz reuse). */
  validAlready?: string[];
  /** Wait this long in finalize (sign-timeout tests). */
  finalizeDelayMs?: number;
  /**
   * A misbehaving CA: the authorization for the ordered name `for` (as written in the order, `*.` included) names
   * `identifier` (and `wildcard`) instead, e.g. a name nobody ordered.
   */
  foreignAuthorization?: { for: string; identifier: { type: string; value: string }; wildcard?: boolean };
  /** Checks an http-01 answer: resolves to the body served for (name, token), or undefined. */
  httpCheck?: (name: string, token: string) => Promise<string | undefined>;
}

let caKeys: Promise<{ keys: CryptoKeyPair; cert: x509.X509Certificate }> | undefined;

function caMaterial() {
  caKeys ??= (async () => {
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=Fake ACME Test Intermediate",
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 365 * 86400_000),
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
    });
    return { keys, cert };
  })();
  return caKeys;
}

/** A fake CA; cast with `asClient()` where an AcmeClient is expected. */
export class FakeCa {
  /** As `AcmeClient.directoryUrl`. */
  readonly directoryUrl = "https://fake.ca/dir";
  orders = 0;
  finalized = 0;
  readonly answered: string[] = [];
  #seq = 0;
  readonly #orders = new Map<string, AcmeOrder & { names: string[] }>();
  readonly #authz = new Map<string, AcmeAuthorization>();
  readonly #tokens = new Map<string, { authz: string; name: string }>();

  constructor(public opts: FakeCaOptions = {}) {}

  asClient(): AcmeClient {
    return this as unknown as AcmeClient;
  }

  keyAuthorization(token: string): Promise<string> {
    return Promise.resolve(`${token}.fake-thumbprint`);
  }

  newOrder(
    opts: { identifiers: (string | { type: string; value: string })[]; profile?: string; replaces?: string },
  ): Promise<AcmeOrder> {
    this.orders++;
    const refused = this.opts.newOrderError?.(opts);
    if (refused) return Promise.reject(refused);
    const id = ++this.#seq;
    const names = opts.identifiers.map((i) => (typeof i === "string" ? i : i.value));
    const authorizations = names.map((name, index) => {
      const url = `https://fake.ca/authz/${id}/${index}`;
      const wildcard = name.startsWith("*.");
      const token = `tok${id}x${index}${crypto.randomUUID().replaceAll("-", "")}`;
      const valid = this.opts.validAlready?.includes(name) ?? false;
      const challenge: AcmeChallenge = {
        type: wildcard ? "dns-01" : "http-01",
        url: `https://fake.ca/chall/${id}/${index}`,
        status: valid ? "valid" : "pending",
        token,
      };
      const foreign = this.opts.foreignAuthorization?.for === name ? this.opts.foreignAuthorization : undefined;
      this.#authz.set(url, {
        url,
        identifier: foreign?.identifier ?? { type: "dns", value: wildcard ? name.slice(2) : name },
        status: valid ? "valid" : "pending",
        challenges: [challenge],
        wildcard: foreign ? foreign.wildcard === true : wildcard,
      });
      this.#tokens.set(challenge.url, { authz: url, name });
      return url;
    });
    const order = {
      url: `https://fake.ca/order/${id}`,
      status: authorizations.every((u) => this.#authz.get(u)!.status === "valid") ? "ready" : "pending",
      identifiers: names.map((value) => ({ type: "dns", value })),
      authorizations,
      finalize: `https://fake.ca/order/${id}/finalize`,
      names,
    } as AcmeOrder & { names: string[] };
    this.#orders.set(order.url, order);
    return Promise.resolve({ ...order });
  }

  getAuthorization(url: string): Promise<AcmeAuthorization> {
    return Promise.resolve(structuredClone(this.#authz.get(url)!));
  }

  async respondToChallenge(url: string): Promise<AcmeChallenge> {
    const { authz: authzUrl, name } = this.#tokens.get(url)!;
    const authz = this.#authz.get(authzUrl)!;
    const challenge = authz.challenges[0];
    this.answered.push(name);
    const failure = this.opts.failValidation?.[name];
    let error: string | undefined = failure;
    if (!error && this.opts.httpCheck) {
      const expected = await this.keyAuthorization(challenge.token!);
      const served = await this.opts.httpCheck(authz.identifier.value, challenge.token!);
      if (served !== expected) error = `The key authorization served for ${name} was wrong or missing`;
    }
    authz.status = error ? "invalid" : "valid";
    challenge.status = error ? "invalid" : "valid";
    if (error) {
      const [type, detail] = /^[A-Za-z]+\|/.test(error) ? error.split(/\|(.*)/s) : ["unauthorized", error];
      challenge.error = { type: `urn:ietf:params:acme:error:${type}`, detail, status: 403 };
    }
    return structuredClone(challenge);
  }

  pollAuthorization(url: string): Promise<AcmeAuthorization> {
    return this.getAuthorization(url);
  }

  pollOrder(url: string): Promise<AcmeOrder> {
    const order = this.#orders.get(url)!;
    if (order.status === "pending") {
      const states = order.authorizations.map((u) => this.#authz.get(u)!.status);
      if (states.includes("invalid")) order.status = "invalid";
      else if (states.every((s) => s === "valid")) order.status = "ready";
    }
    return Promise.resolve({ ...order });
  }

  async finalize(order: { url?: string }, csrDer: Uint8Array): Promise<AcmeOrder> {
    if (this.opts.finalizeDelayMs) await new Promise((r) => setTimeout(r, this.opts.finalizeDelayMs));
    if (this.opts.finalizeError) throw this.opts.finalizeError();
    this.finalized++;
    const stored = this.#orders.get(order.url!)!;
    const { keys, cert: caCert } = await caMaterial();
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(new Uint8Array(csrDer));
    } catch {
      throw badCsr(); // As a CA answers a CSR it cannot parse (RFC 8555 §7.4), never a bare exception.
    }
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: (++this.#seq).toString(16).padStart(4, "0"),
      subject: "",
      issuer: caCert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 90 * 86400_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: csr.publicKey,
      signingKey: keys.privateKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension(stored.names.map((value) => ({ type: "dns" as const, value }))),
      ],
    });
    stored.status = "valid";
    stored.certificate = `${stored.url}/cert`;
    (stored as unknown as { pem: string }).pem = `${leaf.toString("pem")}\n${caCert.toString("pem")}\n`;
    return { ...stored };
  }

  downloadCertificate(url: string): Promise<CertificateChain> {
    const order = [...this.#orders.values()].find((o) => o.certificate === url)!;
    return Promise.resolve({ pem: (order as unknown as { pem: string }).pem, alternates: [] });
  }
}

export function rateLimited(seconds: number): AcmeProblem {
  return new AcmeProblem({
    type: "urn:ietf:params:acme:error:rateLimited",
    detail: "too many certificates already issued for this exact set of identifiers",
    status: 429,
    retryAfter: new Date(Date.now() + seconds * 1000),
  });
}

export function badCsr(): AcmeProblem {
  return new AcmeProblem({ type: "urn:ietf:params:acme:error:badCSR", detail: "CSR is unacceptable", status: 400 });
}

export function serverDown(): AcmeNetworkError {
  return new AcmeNetworkError("https://fake.ca/new-order", new Error("connection refused"));
}
