/**
 * Zone discovery and CNAME delegation over scripted answers: the walk up label by label, REFUSED on the way,
 * a delegation away from the server, a recursive server's upward referral, CNAME chains and their limits.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "../../../support/assert.ts";
import type { DnsError, Exchanged } from "../../../../src/challenges/dns01/dns/client.ts";
import { discoverZone, followCname, type Query } from "../../../../src/challenges/dns01/dns/discovery.ts";
import type { DecodedMessage, DecodedRecord } from "../../../../src/challenges/dns01/dns/wire.ts";
import { server } from "./fake_dns.ts";

const SERVER = server(5353);

function answer(rcode: number, opts: { aa?: boolean; answers?: DecodedRecord[]; authorities?: DecodedRecord[] } = {}) {
  const message: DecodedMessage = {
    id: 1,
    qr: true,
    opcode: 0,
    aa: opts.aa ?? true,
    tc: false,
    rcode,
    qdcount: 1,
    ancount: 0,
    nscount: 0,
    arcount: 0,
    answers: opts.answers ?? [],
    authorities: opts.authorities ?? [],
  };
  return { message, server: SERVER } satisfies Exchanged;
}

/** A query function answering from a table "name TYPE" → answer; NXDOMAIN otherwise. Records what was asked. */
function scripted(table: Record<string, Exchanged>): Query & { asked: string[] } {
  const asked: string[] = [];
  const query = (name: string, type: string) => {
    asked.push(`${name} ${type}`);
    return Promise.resolve(table[`${name} ${type}`] ?? answer(3));
  };
  return Object.assign(query, { asked });
}

const soa = (name: string): DecodedRecord => ({ name, type: "SOA", data: `ns.${name}` });
const ns = (name: string, target: string): DecodedRecord => ({ name, type: "NS", data: target });
const cname = (name: string, target: string): DecodedRecord => ({ name, type: "CNAME", data: target });

Deno.test("dns discovery: walks up label by label to the first name with its own SOA", async () => {
  const query = scripted({ "example.co.uk SOA": answer(0, { answers: [soa("example.co.uk")] }) });
  assertEquals(await discoverZone("_acme-challenge.a.b.example.co.uk", query, [SERVER]), "example.co.uk");
  assertEquals(query.asked, [
    "_acme-challenge.a.b.example.co.uk SOA",
    "a.b.example.co.uk SOA",
    "b.example.co.uk SOA",
    "example.co.uk SOA",
  ]);
});

Deno.test("dns discovery: an SOA in the authority section (negative answer) is not the zone of that name", async () => {
  const query = scripted({
    "www.example.test SOA": answer(0, { authorities: [soa("example.test")] }),
    "example.test SOA": answer(0, { answers: [soa("example.test")] }),
  });
  assertEquals(await discoverZone("www.example.test", query, [SERVER]), "example.test");
});

Deno.test("dns discovery: REFUSED on the way up is skipped; nothing found names the server and the fix", async () => {
  const refused = scripted({ "a.test SOA": answer(5), "test SOA": answer(5) });
  const error = await assertRejects(() => discoverZone("a.test", refused, [SERVER]));
  assertEquals((error as DnsError).kind, "nozone");
  assertStringIncludes(error.message, "No zone on DNS server 127.0.0.1:5353 holds a.test");
  assertStringIncludes(error.message, "set zone =");
  // The lookups are unsigned: a refusal is about this host, not the TSIG key.
  assertStringIncludes(error.message, "REFUSED to an unsigned query");
  assertStringIncludes(error.message, "not a TSIG matter");
});

Deno.test("dns discovery: a delegation to other servers stops the walk with a clear error", async () => {
  const query = scripted({
    "_acme-challenge.www.sub.example.test SOA": answer(0, {
      aa: false,
      authorities: [ns("sub.example.test", "ns1.elsewhere.test"), ns("sub.example.test", "ns2.elsewhere.test")],
    }),
  });
  const error = await assertRejects(() => discoverZone("_acme-challenge.www.sub.example.test", query, [SERVER]));
  assertEquals((error as DnsError).kind, "delegated");
  assertStringIncludes(error.message, "sub.example.test is delegated by DNS server 127.0.0.1:5353");
  assertStringIncludes(error.message, "ns1.elsewhere.test, ns2.elsewhere.test");
});

Deno.test("dns discovery: a recursive server's upward referral to the root is not a delegation", async () => {
  const root = answer(0, { aa: false, authorities: [ns("", "a.root-servers.net")] });
  const query = scripted({ "x.nosuch.test SOA": root, "nosuch.test SOA": root, "test SOA": root });
  const error = await assertRejects(() => discoverZone("x.nosuch.test", query, [SERVER]));
  assertEquals((error as DnsError).kind, "nozone");
});

Deno.test("dns delegation: CNAME chains are followed; none, NXDOMAIN or REFUSED keep the name", async () => {
  const chain = scripted({
    "_acme-challenge.www.example.test CNAME": answer(0, {
      answers: [cname("_acme-challenge.www.example.test", "a.acme.test")],
    }),
    "a.acme.test CNAME": answer(0, { answers: [cname("a.acme.test", "b.acme.test")] }),
    "b.acme.test CNAME": answer(0),
  });
  assertEquals(await followCname("_acme-challenge.www.example.test", chain), "b.acme.test");
  assertEquals(await followCname("_acme-challenge.x.example.test", scripted({})), "_acme-challenge.x.example.test");
  const refused = scripted({ "_acme-challenge.y.test CNAME": answer(5) });
  assertEquals(await followCname("_acme-challenge.y.test", refused), "_acme-challenge.y.test");
});

Deno.test("dns delegation: loops and overlong chains are errors", async () => {
  const table: Record<string, Exchanged> = {};
  for (let i = 0; i < 10; i++) {
    table[`n${i}.test CNAME`] = answer(0, { answers: [cname(`n${i}.test`, `n${i + 1}.test`)] });
  }
  const long = await assertRejects(() => followCname("n0.test", scripted(table)));
  assertStringIncludes(long.message, "longer than 8 hops");
  const loop = scripted({
    "a.test CNAME": answer(0, { answers: [cname("a.test", "b.test")] }),
    "b.test CNAME": answer(0, { answers: [cname("b.test", "a.test")] }),
  });
  const looped = await assertRejects(() => followCname("a.test", loop));
  assertStringIncludes(looped.message, "loops back to a.test");
});
