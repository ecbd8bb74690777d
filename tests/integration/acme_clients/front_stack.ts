/**
 * The stack the real-client tests run certbot and lego against: bind9 + pebble 2.10 (validating http-01 through
 * acmems' own challenge listener on pebble's `httpPort`) + `acmems serve` as a subprocess with HTTPS on its mgmt
 * listener (a throwaway CA from tests/support/test_ca.ts, which the clients trust) and a file cache.
 *
 * The auth block `hosts` (127.0.0.1, `*.example.test`) opts into the ACME front end with a pair made by the real
 * `acmems eab new hosts CONFIG` (its printed certbot line gives the server URL and flags the tests use); `web`
 * (`*.web.test`) is another block without EAB. `newOrders()` reads acmems' own `/metrics`: how many orders it sent
 * upstream, for the cache-hit checks.
 */
import { assert } from "../../support/assert.ts";
import { runAcmems } from "../../support/acmems.ts";
import type { Eab } from "../../support/certbot.ts";
import { fileStorage, ipAuth, testConfig, writeConfig } from "../../support/config.ts";
import { startDelayProxy } from "../../support/delay_proxy.ts";
import { freePort } from "../../support/ports.ts";
import { parsePrometheus } from "../../support/prometheus.ts";
import { runChecked } from "../../support/process.ts";
import { type Stack, startStack } from "../../support/stack.ts";
import { makeTestCa } from "../../support/test_ca.ts";

/** A running front-end stack. */
export interface FrontStack {
  stack: Stack;
  /** `https://127.0.0.1:PORT/acme/directory`, as `acmems eab new` printed it. */
  server: string;
  /** The CA of acmems' mgmt TLS certificate (what the clients trust). */
  tlsCaFile: string;
  /** pebble's issuing root (`/roots/0`), to verify chains. */
  rootFile: string;
  /** The `hosts` block's pair, from `acmems eab new`. */
  eab: Eab;
  /** Orders acmems sent to pebble so far (`acmems_acme_requests_total{endpoint="newOrder"}`). */
  newOrders(): Promise<number>;
  /** Stops acmems, pebble and bind9 and removes the work dir. */
  stop(): Promise<void>;
}

/** Options for `startFrontStack`. */
export interface FrontStackOptions {
  /**
   * Hold each of pebble's http-01 connections this long (tests/support/delay_proxy.ts between pebble and acmems'
   * challenge listener): an upstream order that outlasts the front end's 10 s finalize wait, so the order is
   * `processing` and the client polls.
   */
  validationDelayMs?: number;
}

/** Starts the stack; on failure everything already started is stopped. */
export async function startFrontStack(comment: string, opts: FrontStackOptions = {}): Promise<FrontStack> {
  const mgmtPort = await freePort();
  const challengePort = opts.validationDelayMs === undefined ? undefined : await freePort();
  let eab: Eab | undefined;
  let server = "";
  let tlsCaFile = "";
  const stack = await startStack({
    prefix: "acmems-clients-",
    rootFile: true,
    acmems: async ({ work, pebble }) => {
      const tls = await makeTestCa(`${work}/tls`);
      tlsCaFile = tls.caFile;
      const spec = (hostsEab: Record<string, string>) =>
        testConfig({
          comment,
          ca: pebble,
          accountDir: `${work}/account`,
          mgmtPort,
          httpPort: challengePort ?? pebble.httpPort,
          mgmt: { "tls-cert": tls.serverCertFile, "tls-key": tls.serverKeyFile },
          storages: { cache: fileStorage(`${work}/cache`) },
          auth: {
            hosts: ipAuth("*.example.test", "127.0.0.1", hostsEab),
            web: ipAuth("*.web.test", "127.0.0.1"),
          },
        });
      // What an operator does: write the block, ask `acmems eab new` for a pair, paste its two lines in.
      const file = await writeConfig(`${work}/acmems.ini`, spec({}));
      await Deno.chmod(file, 0o600);
      const printed = await runAcmems(["eab", "new", "hosts", file]);
      assert(printed.code === 0, `acmems eab new failed:\n${printed.output}`);
      const kid = printed.output.match(/^acme-eab-kid = (\S+)$/m)?.[1];
      const hmacKey = printed.output.match(/^acme-eab-hmac-key = (\S+)$/m)?.[1];
      const flags = printed.output.match(/^certbot certonly --server (\S+) --eab-kid (\S+) --eab-hmac-key (\S+)/m);
      assert(kid && hmacKey && flags, `acmems eab new printed no pair:\n${printed.output}`);
      assert(flags[2] === kid && flags[3] === hmacKey, "the certbot flags must carry the printed pair");
      eab = { kid, hmacKey };
      server = flags[1];
      return { config: spec({ "acme-eab-kid": kid, "acme-eab-hmac-key": hmacKey }) };
    },
  });
  assert(eab && server === `https://127.0.0.1:${mgmtPort}/acme/directory`, `unexpected server URL ${server}`);
  if (challengePort !== undefined) {
    try {
      const proxy = startDelayProxy({
        port: stack.pebble.httpPort,
        targetPort: challengePort,
        delayMs: opts.validationDelayMs!,
      });
      stack.cleanup.add(() => proxy.stop());
    } catch (e) {
      await stack.cleanup.run();
      throw e;
    }
  }
  const metricsUrl = `https://127.0.0.1:${mgmtPort}/metrics`;
  return {
    stack,
    server,
    tlsCaFile,
    rootFile: stack.rootFile,
    eab,
    async newOrders() {
      const r = await runChecked("curl", ["-sS", "--fail-with-body", "--cacert", tlsCaFile, metricsUrl]);
      return parsePrometheus(r.stdout).find("acmems_acme_requests_total", { endpoint: "newOrder" })
        .reduce((sum, s) => sum + s.value, 0);
    },
    stop: () => stack.cleanup.run(),
  };
}

/** The same key id with another MAC key (its first character changed): a wrong EAB. */
export function wrongKey(eab: Eab): Eab {
  return { kid: eab.kid, hmacKey: (eab.hmacKey[0] === "A" ? "B" : "A") + eab.hmacKey.slice(1) };
}
