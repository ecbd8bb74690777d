/**
 * The ACME front end in-process for the tests of src/acme_server/: `createMgmtHandler` with a real issuer in front
 * of the fake CA (tests/support/fake_ca.ts), a config with an ACME-enabled block (`acme`, EAB kid `kid-1`) for
 * `*.example.test` from 127.0.0.1, and our own ACME client (src/acme) talking to the handler through an in-process
 * fetch; plus raw JWS builders for the protocol edge cases.
 */
import { assert } from "../../support/assert.ts";
import { FakeCa, type FakeCaOptions } from "../../support/fake_ca.ts";
import { load } from "../config/helpers.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { AcmeClient, exportPublicJwk, generateKeyPair, signJws } from "../../../src/acme/mod.ts";
import { b64url } from "../../../src/acme/encoding.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { createStorages } from "../../../src/storage/factory.ts";

export const EAB_KID = "kid-1";
/** 32 bytes, base64url. */
export const EAB_KEY = "c2VjcmV0LWtleS1mb3ItdGhlLWFjbWUtZnJvbnQtZW5k";
export const BASE = "http://acmems.test:1313";
export const DIRECTORY = `${BASE}/acme/directory`;

/** The config; `cacheDir`: a file storage there is the default (certificates and ACME state), else none. */
export function configText(cacheDir?: string): string {
  const storage = cacheDir
    ? `[storage "cache"]\ntype = file\ndirectory = ${cacheDir}\n`
    : `[storage "none"]\ntype = none\n`;
  return `[account]
dir = /tmp/acmems-test-account
[mgmt]
max-size = 16k
sign-timeout = 5s
${cacheDir ? "default-storage = cache" : ""}
[verification "http"]
type = http01
listener = 127.0.0.1:5002
${storage}[auth "acme"]
ip = 127.0.0.1
domain = *.example.test
ip-identifiers = 192.0.2.0/24
acme-eab-kid = ${EAB_KID}
acme-eab-hmac-key = ${EAB_KEY}
[auth "other"]
ip = 127.0.0.1
domain = *.other.test
acme-eab-kid = kid-2
acme-eab-hmac-key = b3RoZXItc2VjcmV0LWtleS0xMjM0NTY3ODkw
`;
}

export function info(hostname = "127.0.0.1"): Deno.ServeHandlerInfo {
  return {
    remoteAddr: { transport: "tcp", hostname, port: 40000 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo;
}

/**
 * The handler with a real issuer in front of a fake CA that answers every challenge; `cache`: a file storage in a
 * fresh temp dir (removed by `close`).
 */
export function setup(
  opts: {
    peer?: string;
    cache?: boolean;
    fake?: FakeCaOptions;
    finalizeWaitMs?: number;
    trustedProxy?: string;
    /** More [mgmt] lines. */
    mgmt?: string;
  } = {},
) {
  const cacheDir = opts.cache ? Deno.makeTempDirSync({ prefix: "acme-front-test-" }) : undefined;
  const result = load(
    configText(cacheDir).replace(
      "[mgmt]\n",
      `[mgmt]\n${opts.trustedProxy ? `trusted-proxy = ${opts.trustedProxy}\n` : ""}${opts.mgmt ?? ""}\n`,
    ),
  );
  assert(result.ok, JSON.stringify(result.errors));
  const config = result.config!;
  const log = memoryLogger("debug");
  const responder = new Http01Responder();
  const fake = new FakeCa({
    httpCheck: async (name, token) => {
      const response = await responder.handle(
        new Request(`http://${name}:5002/.well-known/acme-challenge/${token}`, { headers: { host: `${name}:5002` } }),
      );
      return response.status === 200 ? await response.text() : undefined;
    },
    ...opts.fake,
  });
  const issuer = new IssuanceService({
    client: () => fake.asClient(),
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: createStorages(config, log),
    log,
  });
  const newHandler = () =>
    createMgmtHandler({
      config,
      parser: createCsrParser({ maxEntries: 10 }),
      policy: compilePolicy(config.auth),
      issuer,
      log,
      acmeFinalizeWaitMs: opts.finalizeWaitMs ?? 3_000,
    });
  const handler = newHandler();
  /** A second instance's handler: its own nonces and finalizations, the same issuer and storages. */
  const second = newHandler();
  const fetchOf = (h: typeof handler) => (input: RequestInfo | URL, init?: RequestInit) =>
    h(new Request(input, init), info(opts.peer ?? "127.0.0.1"));
  const fetch = fetchOf(handler);
  return {
    handler,
    fake,
    log,
    issuer,
    fetch,
    /** Our ACME client against the front end (a fresh P-256 account key unless one is given). */
    async client(key?: CryptoKeyPair, instance: "first" | "second" = "first"): Promise<AcmeClient> {
      return new AcmeClient({
        directoryUrl: DIRECTORY,
        accountKey: key ?? await generateKeyPair("ec-p256"),
        fetch: fetchOf(instance === "first" ? handler : second),
        retries: 0,
        maxBadNonceRetries: 0,
        pollIntervalMs: 50,
      });
    },
    config,
    async close() {
      await issuer.drain();
      await handler.close();
      await second.close();
      if (cacheDir) await Deno.remove(cacheDir, { recursive: true });
    },
  };
}

/** A fresh nonce from the handler. */
export async function nonce(fetch: (input: string, init?: RequestInit) => Promise<Response>): Promise<string> {
  const response = await fetch(`${BASE}/acme/new-nonce`, { method: "HEAD" });
  return response.headers.get("replay-nonce")!;
}

/** POSTs a JWS (as a flattened JSON object) to `url`. */
export function post(
  fetch: (input: string, init?: RequestInit) => Promise<Response>,
  url: string,
  jws: unknown,
): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/jose+json" },
    body: JSON.stringify(jws),
  });
}

/** A JWS with a hand-written protected header (alg none, HS256, …), signed with `sign` (default: no signature). */
export function rawJws(
  header: Record<string, unknown>,
  payload: unknown,
  signature = "",
): { protected: string; payload: string; signature: string } {
  return {
    protected: b64url(JSON.stringify(header)),
    payload: payload === undefined ? "" : b64url(JSON.stringify(payload)),
    signature,
  };
}

/** The EAB JWS for `key` (HS256 under `hmacKey`, or a wrong key). */
export async function eab(
  key: CryptoKeyPair,
  url = `${BASE}/acme/new-account`,
  kid = EAB_KID,
  hmacKey = EAB_KEY,
) {
  const { externalAccountBinding } = await import("../../../src/acme/mod.ts");
  return await externalAccountBinding({ kid, hmacKey }, await exportPublicJwk(key.publicKey), url);
}

/** A newAccount JWS signed with `key` (jwk), with the given payload and header overrides. */
export async function signedNewAccount(
  key: CryptoKeyPair,
  nonceValue: string,
  payload: unknown,
  url = `${BASE}/acme/new-account`,
) {
  return await signJws({
    privateKey: key.privateKey,
    url,
    nonce: nonceValue,
    jwk: await exportPublicJwk(key.publicKey),
    payload,
  });
}
