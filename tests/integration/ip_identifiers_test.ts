/**
 * IP address certificates (issue 16 item 4, RFC 8738) against pebble 2.10: a CSR whose iPAddress SANs are inside
 * the block's `ip-identifiers` is ordered with `ip` identifiers, pebble's VA validates them over http-01 by
 * connecting to the address itself at its `httpPort` (acmems' http01 listener on 127.0.0.1 and [::1]), and the
 * certificate's SANs are exactly those addresses; an address outside `ip-identifiers` gets 403 without any order.
 *
 * No DNS is involved (pebble connects to the addresses), so no bind9: one pebble and one in-process acmems.
 */
import * as x509 from "@peculiar/x509";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { testConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import { startPebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { startApp } from "../support/stack.ts";
import { run } from "../support/process.ts";

/** The leaf's SANs as `type value`, sorted. */
function leafSans(chainPem: string): string[] {
  const leaf = new x509.X509Certificate(chainPem.split(/\n\n/)[0]);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).map((n) => `${n.type} ${n.value}`).sort();
}

Deno.test({
  name: "ip-identifiers: IP SANs in range get a certificate for those addresses (pebble, http-01); others 403",
  sanitizeResources: true,
  sanitizeOps: true,
  async fn(t) {
    const pebble = await startPebble();
    const dir = await Deno.makeTempDir({ prefix: "acmems-ip-" });
    try {
      const mgmtPort = await freePort();
      const config = testConfig({
        comment: "tests/integration/ip_identifiers_test.ts",
        ca: pebble,
        account: { profile: "default" },
        mgmtPort,
        httpPort: null,
        verifications: {
          http: {
            type: "http01",
            listener: ["127.0.0.1", "127.0.0.2", "[::1]"].map((host) => `${host}:${pebble.httpPort}`),
          },
        },
        auth: {
          hosts: { ip: "127.0.0.1", "ip-identifiers": "127.0.0.0/8, ::1", domain: "*.example.test" },
        },
      });
      const app = await startApp({
        configFile: `${dir}/acmems.ini`,
        config,
        keyPair: await generateKeyPair("ec-p256"),
        caCerts: [pebble.caPem],
      });
      try {
        const sign = async (names: string[]) => {
          const csr = await makeCsr({ names, dir, cn: "" });
          const response = await fetch(`${app.url}/sign`, { method: "POST", body: csr.csrPem });
          return { status: response.status, body: await response.text(), csr };
        };
        const orders = () => app.lines().filter((l) => l.includes("acme order placed")).length;

        await t.step("IPv4: 127.0.0.1 and 127.0.0.2 validated over http-01 through acmems", async () => {
          const got = await sign(["127.0.0.1", "127.0.0.2"]);
          assertEquals(got.status, 200, got.body);
          assertEquals(leafSans(got.body), ["ip 127.0.0.1", "ip 127.0.0.2"]);
          const placed = app.lines().filter((l) => l.includes("acme order placed"));
          assertEquals(placed.length, 1, "one order with both ip identifiers");
          const answered = app.lines().filter((l) => l.includes("acme challenges answered"));
          assert(answered.some((l) => l.includes("http-01")), app.lines().join("\n"));
        });

        await t.step("IPv6: ::1 (pebble connects to [::1]); POST /revoke takes the IP certificate back", async () => {
          const got = await sign(["::1"]);
          assertEquals(got.status, 200, got.body);
          assertEquals(leafSans(got.body), ["ip ::1"]);
          // The host's revocation: the certificate, then a fresh CSR by its key (names do not matter); the block must
          // admit the certificate's addresses by its ip-identifiers.
          const fresh = await run("openssl", ["req", "-new", "-key", got.csr.keyFile, "-subj", "/CN=revoke", "-batch"]);
          const revoke = await fetch(`${app.url}/revoke?reason=superseded`, {
            method: "POST",
            body: `${got.body.split(/\n\n/)[0].trim()}\n${fresh.stdout}`,
          });
          const answer = await revoke.text();
          assertEquals(revoke.status, 200, answer);
          assertStringIncludes(answer, "with reason superseded");
          assert(app.events().some((e) => e.outcome === "revoked (superseded)"), app.lines().join("\n"));
        });

        await t.step("an address outside ip-identifiers: 403, nothing ordered", async () => {
          const before = orders();
          const got = await sign(["127.0.0.1", "192.0.2.1"]);
          assertEquals(got.status, 403, got.body);
          assertStringIncludes(got.body, "192.0.2.1");
          assertEquals(orders(), before);
        });
      } finally {
        await app.stop();
      }
    } finally {
      await pebble.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
