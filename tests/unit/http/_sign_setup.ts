/**
 * The /sign handler in-process for the tests of src/http/: `createMgmtHandler` with a real issuer in front of a fake
 * CA (or any `SignIssuer`), a config with an HMAC block, a local block and a shortlived-profile block.
 */
import { assert } from "../../support/assert.ts";
import { FakeCa, type FakeCaOptions } from "../../support/fake_ca.ts";
import { makeCsr } from "../../support/csr.ts";
import { load } from "../config/helpers.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import type { Config } from "../../../src/config/types.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { AdmittedRepeats } from "../../../src/http/admitted_repeats.ts";
import type { SignDecision } from "../../../src/http/audit.ts";
import { createMgmtHandler, type MgmtHandlerDeps } from "../../../src/http/mgmt_router.ts";
import type { SignIssuer } from "../../../src/http/sign.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { CaUnavailableError } from "../../../src/account/session.ts";
import { createStorages } from "../../../src/storage/factory.ts";

export const HMAC_KEY = "n048aX0G2Gc8zAvUfcbz8fFIpRwi1D";

export function configText(extraMgmt = ""): string {
  return `[account]
dir = /tmp/acmems-test-account
[mgmt]
max-size = 4k
sign-timeout = 2s
${extraMgmt}
[verification "http"]
type = http01
listener = 127.0.0.1:5002
[storage "none"]
type = none
[auth "hmac"]
ip = 10.0.0.0/8
hmac_type = sha256
hmac_key = ${HMAC_KEY}
domain = *.secure.test
[auth "local"]
ip = 127.0.0.1
ip = 2001:db8::/32
domain = *.example.test
domain = example.test
[auth "short"]
ip = 127.0.0.1
domain = *.short.test
profile = shortlived
`;
}

export function loadConfig(extraMgmt = ""): Config {
  const result = load(configText(extraMgmt));
  assert(result.ok, JSON.stringify(result.errors));
  return result.config!;
}

export function info(hostname = "127.0.0.1"): Deno.ServeHandlerInfo {
  return {
    remoteAddr: { transport: "tcp", hostname, port: 40000 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo;
}

/** The handler with a real `IssuanceService` in front of a fake CA ("down": the CA cannot be reached). */
export function setup(ca: FakeCaOptions | "down" = {}) {
  const config = loadConfig();
  const log = memoryLogger("debug", [HMAC_KEY]);
  const responder = new Http01Responder();
  const fake = new FakeCa(
    ca === "down" ? {} : {
      httpCheck: async (name, token) => {
        const response = await responder.handle(
          new Request(`http://${name}:5002/.well-known/acme-challenge/${token}`, { headers: { host: `${name}:5002` } }),
        );
        return response.status === 200 ? await response.text() : undefined;
      },
      ...ca,
    },
  );
  const issuer = new IssuanceService({
    client: () => {
      if (ca === "down") throw new CaUnavailableError("The ACME CA is not available: connection refused");
      return fake.asClient();
    },
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: createStorages(config, log),
    log,
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: 500,
    // As the App runs it: exact repeats of admitted requests are remembered.
    repeats: new AdmittedRepeats(),
  });
  return { handler, fake, log, responder, issuer };
}

/** The handler with any issuer (no CA); every audit record is kept in `decisions`. */
export function setupWith(
  issuer: SignIssuer,
  opts: { extraMgmt?: string; extraRoutes?: MgmtHandlerDeps["extraRoutes"] } = {},
) {
  const config = loadConfig(opts.extraMgmt);
  const log = memoryLogger("debug", [HMAC_KEY]);
  const decisions: SignDecision[] = [];
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: 500,
    onDecision: (d) => decisions.push(d),
    extraRoutes: opts.extraRoutes,
    repeats: new AdmittedRepeats(),
  });
  return { handler, log, decisions };
}

export function post(body: string | Uint8Array, headers: Record<string, string> = {}, path = "/sign"): Request {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  return new Request(`http://127.0.0.1:1313${path}`, {
    method: "POST",
    body: bytes,
    headers: { "content-length": String(bytes.length), ...headers },
  });
}

export async function hmacHex(body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(HMAC_KEY),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const www = await makeCsr({ names: ["www.example.test", "example.test"] });
