/**
 * Where a DNS-UPDATE solver puts its TXT record, by verification type: `dns01-dnsUpdate` answers dns-01 at
 * `_acme-challenge.<name>` (RFC 8555 §8.4); `dns-account01` answers dns-account-01 at
 * `_<label>._acme-challenge.<name>` (src/challenges/dns_account01/label.ts), the label taken from the account URL
 * the resolver puts on the task. The value (base64url SHA-256 of the key authorization), the CNAME following, the
 * zone discovery, the journal and the cleanup are the same for both (src/challenges/dns01/solver.ts).
 */
import type { DnsUpdateVerification } from "../../config/types.ts";
import { dnsAccountOwner } from "../dns_account01/label.ts";
import { ChallengeError, type ChallengeTask } from "../solver.ts";

export interface RecordOwner {
  readonly challengeType: "dns-01" | "dns-account-01";
  /** The owner name to write (before a CNAME there is followed). Throws `ChallengeError` when it cannot be known. */
  name(task: ChallengeTask): Promise<string>;
  /** For the start-up log line. */
  readonly describe: string;
}

export const DNS01_OWNER: RecordOwner = {
  challengeType: "dns-01",
  name: (task) => Promise.resolve(`_acme-challenge.${task.identifier}`),
  describe: "TXT _acme-challenge.<name>, or the target of a CNAME there",
};

export const DNS_ACCOUNT01_OWNER: RecordOwner = {
  challengeType: "dns-account-01",
  name: async (task) => {
    if (!task.accountUrl) {
      throw new ChallengeError(
        `No dns-account-01 record can be set for ${task.identifier}: the ACME account URL is not known yet ` +
          "(the account is not connected): retry later",
        "unavailable",
        30,
      );
    }
    return await dnsAccountOwner(task.accountUrl, task.identifier);
  },
  describe: "TXT _<account label>._acme-challenge.<name>, or the target of a CNAME there",
};

/** The owner rule of a verification type. */
export function recordOwnerFor(type: DnsUpdateVerification["type"]): RecordOwner {
  return type === "dns-account01" ? DNS_ACCOUNT01_OWNER : DNS01_OWNER;
}
