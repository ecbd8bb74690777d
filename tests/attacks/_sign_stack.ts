/**
 * The /sign handler in-process for the attack and fuzz tests: a real `createMgmtHandler` with a real `IssuanceService`,
 * `Http01Responder` and CSR parser in front of the fake CA (tests/support/fake_ca.ts). Every CSR body that reaches
 * the parser and every order placed with the CA is recorded, so a test can assert what never got through. The
 * config comes from tests/support/config.ts, loaded with the unit tests' `load` (no files).
 */
import { assert } from "../support/assert.ts";
import { type ConfigSpec, configText, http01, ipAuth, NO_STORAGE, type Options } from "../support/config.ts";
import { FakeCa, type FakeCaOptions } from "../support/fake_ca.ts";
import { load } from "../unit/config/helpers.ts";
import { Http01Responder } from "../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../src/challenges/http01/solver.ts";
import type { Config } from "../../src/config/types.ts";
import { createCsrParser, type CsrParser } from "../../src/csr/parser.ts";
import type { SignDecision } from "../../src/http/audit.ts";
import { createMgmtHandler } from "../../src/http/mgmt_router.ts";
import { IssuanceService } from "../../src/issuance/service.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { compilePolicy } from "../../src/policy/authorize.ts";
import { createStorages } from "../../src/storage/factory.ts";

export type Handler = (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;

export interface SignStack {
  handler: Handler;
  config: Config;
  fake: FakeCa;
  responder: Http01Responder;
  issuer: IssuanceService;
  log: ReturnType<typeof memoryLogger>;
  /** Byte length of every body handed to the CSR parser. */
  parsedBodies: number[];
  /** The identifiers of every order placed with the CA. */
  orders: string[][];
  /** Every /sign audit record. */
  decisions: SignDecision[];
}

export const ATTACK_HMAC_KEY = "attack-test-hmac-key-0123456789";

/**
 * A config with an IP block (10.1.2.3 only), an HMAC block and a local block (127.0.0.1, ::1) for
 * `*.example.test` and `example.test`; no caching. `mgmt` options are added to [mgmt]; `auth` replaces the blocks.
 */
export function attackConfig(opts: { mgmt?: Options; auth?: Record<string, Options> } = {}): ConfigSpec {
  return {
    account: { dir: "/tmp/acmems-attack-account" },
    // Every request comes from one of a few addresses: the per-client cap is the global one (the fuzz test checks
    // that max-inflight concurrent requests from 127.0.0.1 all get through).
    mgmt: { "max-size": "4k", "sign-timeout": "5s", "max-inflight": 8, "max-inflight-per-client": 8, ...opts.mgmt },
    verifications: { http: http01(5002) },
    storages: { none: NO_STORAGE },
    auth: opts.auth ?? {
      office: { ip: "10.1.2.3", domain: "*.office.test" },
      hmac: { hmac_type: "sha256", hmac_key: ATTACK_HMAC_KEY, domain: "*.secure.test" },
      local: ipAuth(["*.example.test", "example.test"], ["127.0.0.1", "::1"]),
    },
  };
}

export function signStack(opts: { config?: ConfigSpec; ca?: FakeCaOptions; bodyTimeoutMs?: number } = {}): SignStack {
  const result = load(configText(opts.config ?? attackConfig()));
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const config = result.config;
  const log = memoryLogger("debug", [ATTACK_HMAC_KEY]);
  const responder = new Http01Responder();
  const fake = new FakeCa({
    httpCheck: async (name, token) => {
      const response = await responder.handle(
        new Request(`http://${name}:5002/.well-known/acme-challenge/${token}`, { headers: { host: `${name}:5002` } }),
      );
      return response.status === 200 ? await response.text() : undefined;
    },
    ...opts.ca,
  });
  const orders: string[][] = [];
  const issuer = new IssuanceService({
    client: () => fake.asClient(),
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: createStorages(config, log),
    log,
    onOrder: (names) => orders.push([...names]),
  });
  const parsedBodies: number[] = [];
  const real = createCsrParser({ maxEntries: 100 });
  const parser: CsrParser = {
    parse(body) {
      parsedBodies.push(typeof body === "string" ? body.length : body.length);
      return real.parse(body);
    },
    get size() {
      return real.size;
    },
    clear: () => real.clear(),
  };
  const decisions: SignDecision[] = [];
  const handler = createMgmtHandler({
    config,
    parser,
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: opts.bodyTimeoutMs ?? 500,
    onDecision: (d) => decisions.push(d),
  });
  return { handler, config, fake, responder, issuer, log, parsedBodies, orders, decisions };
}

/** Handler info for a TCP peer. */
export function peer(hostname = "127.0.0.1", port = 40000): Deno.ServeHandlerInfo {
  return {
    remoteAddr: { transport: "tcp", hostname, port },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo;
}

/** POST /sign with the body and a correct Content-Length (unless the headers override it). */
export function postSign(body: string | Uint8Array, headers: Record<string, string> = {}, path = "/sign"): Request {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  const h = new Headers({ "content-length": String(bytes.length) });
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return new Request(`http://127.0.0.1:1313${path}`, { method: "POST", body: bytes, headers: h });
}

/** Status and body of a response (the body is always consumed). */
export async function answer(response: Response): Promise<{ status: number; body: string; headers: Headers }> {
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Lower-case hex HMAC of `body` under `key`. */
export async function hmacHex(
  body: string | Uint8Array,
  key = ATTACK_HMAC_KEY,
  hash: "SHA-256" | "SHA-384" | "SHA-512" = "SHA-256",
): Promise<string> {
  const k = await crypto.subtle.importKey("raw", new TextEncoder().encode(key), { name: "HMAC", hash }, false, [
    "sign",
  ]);
  const data = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  const mac = await crypto.subtle.sign("HMAC", k, data);
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}
