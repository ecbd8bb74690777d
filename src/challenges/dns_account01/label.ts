/**
 * dns-account-01's record owner (draft-ietf-acme-dns-account-label, BR 3.2.2.4.21): the dns-01 answer goes to
 * `_<label>._acme-challenge.<name>`, where `<label>` is the lowercase RFC 4648 base32 (no padding: 10 bytes make
 * exactly 16 characters) of the first 10 bytes of SHA-256(account URL), the URL exactly as the CA's `Location`
 * header gave it. One label per ACME account, so several clients can each validate a name beside one another, and
 * a `_acme-challenge.<name>` CNAME that another client or a CDN owns is never touched. Pure.
 */

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** Lowercase RFC 4648 base32 without padding. */
export function base32Lower(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * The account label without its leading underscore, e.g. `ujmmovf2vn55tgye` for the draft's example account
 * `https://example.com/acme/acct/ExampleAccount`.
 */
export async function accountLabel(accountUrl: string): Promise<string> {
  if (accountUrl === "") throw new TypeError("An account label needs the account URL, and it is empty");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accountUrl)));
  return base32Lower(digest.subarray(0, 10));
}

/** `_<label>._acme-challenge.<identifier>`: where the CA looks for this account's dns-account-01 answer. */
export async function dnsAccountOwner(accountUrl: string, identifier: string): Promise<string> {
  return `_${await accountLabel(accountUrl)}._acme-challenge.${identifier}`;
}
