/** Auth blocks and HMACs for the policy tests. */
import { createHmac } from "node:crypto";
import { type IpAddress, parseIpAddress, parseIpNetwork } from "../../../src/lib/ip.ts";
import type { AuthBlock, HmacType, IpNetwork } from "../../../src/config/types.ts";

let line = 1;

export interface BlockSpec {
  ips?: string[];
  /** `ip-identifiers` networks. */
  ipIdentifiers?: string[];
  domains: string[];
  hmac?: { type: HmacType; key: string };
  all?: boolean;
}

/** An AuthBlock as the config loader would produce it. */
export function block(name: string, spec: BlockSpec): AuthBlock {
  const networks = (texts: string[] | undefined) =>
    (texts ?? []).map((text) => {
      const network = parseIpNetwork(text);
      if ("error" in network) throw new Error(network.error);
      return network as IpNetwork;
    });
  const ips = networks(spec.ips);
  const result: AuthBlock = {
    name,
    ips,
    domains: spec.domains,
    all: spec.all ?? false,
    verification: "http",
    storage: null,
    source: { file: "test.ini", line: line++ },
  };
  if (spec.hmac) result.hmac = spec.hmac;
  if (spec.ipIdentifiers) result.ipIdentifiers = networks(spec.ipIdentifiers);
  return result;
}

export function ip(text: string): IpAddress {
  const address = parseIpAddress(text);
  if (!address) throw new Error(`bad test address ${text}`);
  return address;
}

/** Lower-case hex HMAC with node:crypto (an implementation independent of the one under test). */
export function hmacHex(type: HmacType, key: string, body: Uint8Array | string): string {
  return createHmac(type, key).update(body).digest("hex");
}

/** A canonical `Authentication` header value. */
export function authHeader(type: HmacType, key: string, body: Uint8Array | string): string {
  return `hmac name=${type}, hash=${hmacHex(type, key, body)}`;
}
