/**
 * A tiny in-process ACME CA stub on `Deno.serve` for client unit tests (loopback only).
 *
 * It serves a directory, HEAD newNonce and newAccount by default; tests add or override routes. Every
 * answer carries a fresh Replay-Nonce, and every POST is checked like a CA would: a flattened JWS whose
 * signature verifies against the `jwk` (or the key registered for the `kid`), whose `url` matches, and
 * whose nonce was issued and is unused (else badNonce). Routes see the decoded JWS.
 */
import { fromB64url, fromUtf8, utf8 } from "../../../src/acme/encoding.ts";
import type { PublicJwk } from "../../../src/acme/jwk.ts";
import { type JwsAlgorithm, signParams } from "../../../src/acme/jws.ts";

/** A request as a route sees it. */
export interface StubRequest {
  method: string;
  path: string;
  url: string;
  headers: Headers;
  /** Decoded protected header of a POSTed JWS. */
  header?: Record<string, unknown>;
  /** Decoded payload; `""` for POST-as-GET. */
  payload?: unknown;
  /** Raw body. */
  body: string;
  /** The Replay-Nonce sent back with the answer. */
  responseNonce?: string;
  /** The status answered. */
  status?: number;
}

/** A route handler. */
export type Route = (req: StubRequest, stub: StubCa) => Response | Promise<Response>;

/** The running stub. */
export interface StubCa extends AsyncDisposable {
  origin: string;
  directoryUrl: string;
  routes: Map<string, Route>;
  /** Every request seen, in order. */
  requests: StubRequest[];
  /** Issues a fresh nonce (added to every answer automatically). */
  nonce(): string;
  /** Makes the next `count` POSTs fail with badNonce even though their nonce is good. */
  rejectNextNonces(count: number): void;
  /** Number of POSTs that carried a reused or unknown nonce. */
  replayedNonces: number;
  /** Hooks that `close()` calls first (e.g. to release held requests). */
  onClose: (() => void)[];
  close(): Promise<void>;
}

/** Builds a problem+json response. */
export function problem(status: number, type: string, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail, status }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

/** Builds a JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

const ALGS: Record<string, { import: RsaHashedImportParams | EcKeyImportParams; alg: JwsAlgorithm }> = {
  ES256: { import: { name: "ECDSA", namedCurve: "P-256" }, alg: "ES256" },
  ES384: { import: { name: "ECDSA", namedCurve: "P-384" }, alg: "ES384" },
  RS256: { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, alg: "RS256" },
};

/** Verifies a flattened JWS with the public JWK; returns false on any mismatch. */
export async function verifyJws(
  jws: { protected: string; payload: string; signature: string },
  jwk: PublicJwk,
): Promise<boolean> {
  const header = JSON.parse(fromUtf8(fromB64url(jws.protected)));
  const spec = ALGS[header.alg];
  if (!spec) return false;
  const key = await crypto.subtle.importKey("jwk", jwk, spec.import, false, ["verify"]);
  return await crypto.subtle.verify(
    signParams(spec.alg),
    key,
    fromB64url(jws.signature),
    utf8(`${jws.protected}.${jws.payload}`),
  );
}

/** Starts a stub CA with extra routes keyed by "METHOD /path". */
export function startStubCa(extra: Record<string, Route> = {}): Promise<StubCa> {
  const issued = new Set<string>();
  const accounts = new Map<string, PublicJwk>();
  let counter = 0;
  let forcedBadNonces = 0;
  const routes = new Map<string, Route>();
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (addr) => resolve(addr) }, async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    const req: StubRequest = {
      method: request.method,
      path: url.pathname,
      url: request.url,
      headers: request.headers,
      body,
    };
    stub.requests.push(req);
    let response: Response;
    try {
      response = await handle(req);
    } catch (e) {
      response = problem(500, "serverInternal", `stub crashed: ${e instanceof Error ? e.message : e}`);
    }
    const headers = new Headers(response.headers);
    req.responseNonce = stub.nonce();
    req.status = response.status;
    headers.set("replay-nonce", req.responseNonce);
    return new Response(response.body, { status: response.status, headers });
  });

  async function handle(req: StubRequest): Promise<Response> {
    if (req.method === "POST") {
      if (req.headers.get("content-type") !== "application/jose+json") {
        return problem(415, "malformed", "content-type must be application/jose+json");
      }
      const jws = JSON.parse(req.body);
      const header = JSON.parse(fromUtf8(fromB64url(jws.protected)));
      req.header = header;
      req.payload = jws.payload === "" ? "" : JSON.parse(fromUtf8(fromB64url(jws.payload)));
      if (header.url !== req.url) return problem(401, "unauthorized", `url header ${header.url} != ${req.url}`);
      if (!issued.delete(header.nonce)) {
        stub.replayedNonces++;
        return problem(400, "badNonce", `unknown or reused nonce ${header.nonce}`);
      }
      if (forcedBadNonces > 0) {
        forcedBadNonces--;
        return problem(400, "badNonce", "JWS has an invalid anti-replay nonce");
      }
      const jwk = header.jwk ?? accounts.get(header.kid);
      if (!jwk) return problem(400, "accountDoesNotExist", `no account ${header.kid}`);
      if (!(await verifyJws(jws, jwk))) return problem(403, "unauthorized", "bad signature");
      if (header.jwk && req.path === "/new-acct") accounts.set(`${stub.origin}/acct/1`, jwk);
    }
    const route = routes.get(`${req.method} ${req.path}`);
    if (!route) return problem(404, "malformed", `no route ${req.method} ${req.path}`);
    return await route(req, stub);
  }

  const stub: StubCa = {
    origin: "",
    directoryUrl: "",
    routes,
    requests: [],
    replayedNonces: 0,
    onClose: [],
    nonce() {
      const n = `nonce${++counter}`;
      issued.add(n);
      return n;
    },
    rejectNextNonces(count) {
      forcedBadNonces = count;
    },
    async close() {
      for (const hook of stub.onClose) hook();
      await server.shutdown();
    },
    [Symbol.asyncDispose]() {
      return stub.close();
    },
  };

  routes.set("GET /dir", (_req, s) =>
    json({
      newNonce: `${s.origin}/nonce`,
      newAccount: `${s.origin}/new-acct`,
      newOrder: `${s.origin}/new-order`,
      revokeCert: `${s.origin}/revoke`,
      keyChange: `${s.origin}/key-change`,
      renewalInfo: `${s.origin}/ari/`,
      meta: { termsOfService: `${s.origin}/tos`, profiles: { classic: "90 days", shortlived: "6 days" } },
    }));
  routes.set("HEAD /nonce", () => new Response(null, { status: 200, headers: { "cache-control": "no-store" } }));
  routes.set(
    "POST /new-acct",
    (req, s) =>
      json({ status: "valid", contact: (req.payload as { contact?: string[] }).contact ?? [] }, 201, {
        location: `${s.origin}/acct/1`,
      }),
  );
  for (const [key, route] of Object.entries(extra)) routes.set(key, route);

  return listening.then((addr) => {
    stub.origin = `http://127.0.0.1:${addr.port}`;
    stub.directoryUrl = `${stub.origin}/dir`;
    return stub;
  });
}
