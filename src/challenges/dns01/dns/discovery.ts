/**
 * Where a dns-01 TXT record goes on the configured server:
 *
 * - Delegation: when `_acme-challenge.<name>` is a CNAME (the acme-dns pattern: the zone owner delegates only that
 *   label), the record goes at the end of the CNAME chain instead, as the CA follows it too.
 * - Zone discovery: the zone is the closest enclosing name for which the server answers an SOA with exactly that
 *   owner, found by walking up label by label (so `a.b.example.co.uk` and sub-delegated zones work). A referral on
 *   the way means the name is delegated to other servers: updating the parent there would hide the record.
 *
 * The lookups are unsigned (dns/client.ts signs only UPDATEs), so a REFUSED or NOTAUTH here is about this host, not
 * about the TSIG key, and the errors say so.
 */
import type { DnsServerAddress } from "../../../config/types.ts";
import { DnsError, type Exchanged } from "./client.ts";
import type { QueryType } from "./wire.ts";
import { RCODE, rcodeName } from "./wire.ts";

export type Query = (name: string, type: QueryType) => Promise<Exchanged>;

const MAX_CNAME_HOPS = 8;

/** Follows CNAMEs at `owner` on the server; returns the final name (`owner` itself when there is none). */
export async function followCname(owner: string, query: Query): Promise<string> {
  let name = owner;
  const seen = new Set([owner]);
  for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
    const { message } = await query(name, "CNAME");
    // NXDOMAIN/NODATA: no CNAME; REFUSED: not this server's name, which the update will report properly.
    if (message.rcode !== RCODE.NOERROR) return name;
    const cname = message.answers.find((a) => a.type === "CNAME" && a.name === name);
    if (!cname) return name;
    if (seen.has(cname.data)) {
      throw new DnsError(
        `The CNAME chain from ${owner} loops back to ${cname.data}: fix the CNAME records on the DNS server`,
        "other",
      );
    }
    seen.add(cname.data);
    name = cname.data;
  }
  throw new DnsError(
    `The CNAME chain from ${owner} is longer than ${MAX_CNAME_HOPS} hops: point the CNAME straight at its target`,
    "other",
  );
}

/** Finds the zone holding `name` by asking the server for SOA records, walking up one label at a time. */
export async function discoverZone(name: string, query: Query, servers: DnsServerAddress[]): Promise<string> {
  const labels = name.split(".");
  const seen: string[] = [];
  const refusals = new Set<string>();
  let answeredBy = servers[0];
  for (let i = 0; i < labels.length; i++) {
    const candidate = labels.slice(i).join(".");
    const { message, server } = await query(candidate, "SOA");
    answeredBy = server;
    seen.push(`${candidate} ${rcodeName(message.rcode)}`);
    if (message.rcode === RCODE.REFUSED || message.rcode === RCODE.NOTAUTH) refusals.add(rcodeName(message.rcode));
    if (message.rcode === RCODE.NOERROR || message.rcode === RCODE.NXDOMAIN) {
      if (message.answers.some((a) => a.type === "SOA" && a.name === candidate)) return candidate;
      // A referral below the root: the name is delegated away. (A recursive server's upward referral to the root
      // only says it has no zone for the name.)
      const referral = !message.aa && message.authorities.find((a) => a.type === "NS" && a.name !== "");
      if (referral) {
        const targets = message.authorities.filter((a) => a.type === "NS" && a.name === referral.name)
          .map((a) => a.data);
        throw new DnsError(
          `${referral.name} is delegated by DNS server ${server.display} to other name servers ` +
            `(${targets.join(", ")}), so ${name} cannot be updated there: set dns-server = to the primary of ` +
            `${referral.name}`,
          "delegated",
        );
      }
    }
  }
  const refused = refusals.size > 0
    ? `; ${[...refusals].join("/")} to an unsigned query means the server will not answer this host for that ` +
      "name (not a TSIG matter): check its allow-query"
    : "";
  throw new DnsError(
    `No zone on DNS server ${answeredBy.display} holds ${name} (SOA lookups: ${seen.join(", ")}): ` +
      `serve its zone there or set zone =${refused}`,
    "nozone",
  );
}
