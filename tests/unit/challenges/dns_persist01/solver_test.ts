/** The dns-persist-01 solver checks the record before any challenge is answered and names the record to publish. */
import { assert, assertEquals } from "../../../support/assert.ts";
import { DnsPersistSolver } from "../../../../src/challenges/dns_persist01/solver.ts";
import { ChallengeError, type ChallengeTask } from "../../../../src/challenges/solver.ts";
import { DnsError } from "../../../../src/challenges/dns01/dns/client.ts";
import type { DnsPersistVerification } from "../../../../src/config/types.ts";
import { resolvConfServers, txtLookup } from "../../../../src/challenges/dns_persist01/lookup.ts";
// @ts-types="npm:@types/dns-packet@5.6.5"
import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";

const ACCOUNT = "https://ca.test/acme/acct/42";
const V: DnsPersistVerification = {
  type: "dns-persist01",
  name: "p",
  resolvers: [],
  recordFormat: "draft-ietf-acme-dns-persist-00",
  timeoutMs: 1000,
  source: { file: "a.ini", line: 1 },
};
const task = (identifier: string, wildcard = false): ChallengeTask => ({
  identifier,
  wildcard,
  token: "",
  keyAuthorization: "",
  challenge: { type: "dns-persist-01", "issuer-domain-names": ["ca.test", "other-name.test"] },
  accountUrl: ACCOUNT,
});
const now = () => new Date(1_800_000_000_000);

Deno.test("present: a matching record passes; the lookup is at _validation-persist.<name>", async () => {
  const asked: string[] = [];
  const solver = new DnsPersistSolver(V, {
    now,
    lookup: (owner) => {
      asked.push(owner);
      return Promise.resolve([`other-name.test; accounturi=${ACCOUNT}; policy=wildcard`]);
    },
  });
  await solver.present(task("Www.Example.org", true));
  assertEquals(asked, ["_validation-persist.www.example.org"]);
});

Deno.test("present: missing → names-refused with the record to publish (the configured issuer when offered)", async () => {
  const solver = new DnsPersistSolver({ ...V, issuerDomainName: "other-name.test", persistUntil: 1900000000 }, {
    now,
    lookup: () => Promise.resolve([]),
  });
  const error = await rejection(solver.present(task("example.org", true)));
  assertEquals(error.kind, "names-refused");
  assert(
    error.message.includes(
      `publish _validation-persist.example.org. IN TXT "other-name.test; accounturi=${ACCOUNT}; policy=wildcard; ` +
        `persistUntil=1900000000"`,
    ),
    error.message,
  );
  assert(error.message.includes("is missing (no TXT record)"), error.message);
});

Deno.test("present: a resolver that does not answer → unavailable", async () => {
  const solver = new DnsPersistSolver(V, {
    now,
    lookup: () => Promise.reject(new DnsError("TXT lookup failed: no DNS server answered", "unreachable")),
  });
  const error = await rejection(solver.present(task("example.org")));
  assertEquals([error.kind, error.retryAfterSeconds], ["unavailable", 30]);
});

Deno.test("resolv.conf: nameserver lines, the C library's default without one", () => {
  assertEquals(
    resolvConfServers("# x\nnameserver 10.0.0.1\nsearch a\nnameserver fe80::1%eth0\n").map((s) => s.display),
    ["10.0.0.1:53", "[fe80::1]:53"],
  );
  assertEquals(resolvConfServers("").map((s) => s.display), ["127.0.0.1:53"]);
});

/** The ChallengeError `promise` rejects with. */
async function rejection(promise: Promise<unknown>): Promise<ChallengeError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof ChallengeError, String(error));
    return error;
  }
  throw new Error("present() resolved");
}

Deno.test("lookup: a recursive TXT query over UDP (TCP on truncation is the transport's), answers' TXT values", async () => {
  const seen: { server: string; transport: string; rd: boolean; name: string }[] = [];
  const lookup = txtLookup(
    [{ hostname: "127.0.0.1", port: 5353, display: "127.0.0.1:5353" }],
    500,
    (server, bytes, o) => {
      const q = dnsPacket.decode(Buffer.from(bytes));
      seen.push({
        server: server.display,
        transport: o.transport,
        rd: ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0,
        name: q.questions![0].name,
      });
      return Promise.resolve(
        new Uint8Array(dnsPacket.encode({
          type: "response",
          id: q.id,
          flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
          questions: q.questions,
          answers: [{ type: "TXT", name: q.questions![0].name, data: ["ca.test; accounturi=", "https://x/acct/1"] }],
        })),
      );
    },
  );
  assertEquals(await lookup("_validation-persist.Example.org"), ["ca.test; accounturi=https://x/acct/1"]);
  assertEquals(seen, [{
    server: "127.0.0.1:5353",
    transport: "udp",
    rd: true,
    name: "_validation-persist.example.org",
  }]);
});
