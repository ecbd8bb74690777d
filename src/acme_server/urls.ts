/**
 * The front end's URLs, all under `/acme/` on the mgmt listener that received the request. The base is the scheme
 * and host the client used: the request URL as the listener saw it (https on a TLS listener), or, when the TCP peer
 * is a `trusted-proxy`, `X-Forwarded-Proto` and `X-Forwarded-Host` (the first value of each). Pure.
 */

/** `scheme://host[:port]` of the request, as the client addressed it. */
export function baseUrl(request: Request, peerIsTrustedProxy: boolean): string {
  const url = new URL(request.url);
  let scheme = url.protocol.replace(/:$/, "");
  let host = request.headers.get("host") ?? url.host;
  if (peerIsTrustedProxy) {
    const proto = first(request.headers.get("x-forwarded-proto"));
    if (proto === "http" || proto === "https") scheme = proto;
    const forwardedHost = first(request.headers.get("x-forwarded-host"));
    if (forwardedHost && /^[A-Za-z0-9.:\[\]-]+$/.test(forwardedHost)) host = forwardedHost;
  }
  if (!/^[A-Za-z0-9.:\[\]-]+$/.test(host)) host = url.host;
  return `${scheme}://${host}`;
}

function first(value: string | null): string | undefined {
  return value?.split(",")[0].trim().toLowerCase() || undefined;
}

/** Every URL the front end hands out, for one base. */
export class AcmeUrls {
  constructor(readonly base: string) {}
  get directory(): string {
    return `${this.base}/acme/directory`;
  }
  get newNonce(): string {
    return `${this.base}/acme/new-nonce`;
  }
  get newAccount(): string {
    return `${this.base}/acme/new-account`;
  }
  get newOrder(): string {
    return `${this.base}/acme/new-order`;
  }
  get revokeCert(): string {
    return `${this.base}/acme/revoke-cert`;
  }
  get keyChange(): string {
    return `${this.base}/acme/key-change`;
  }
  get renewalInfo(): string {
    return `${this.base}/acme/renewal-info`;
  }
  account(id: string): string {
    return `${this.base}/acme/acct/${id}`;
  }
  /** The account id of an account URL of this base, or null. */
  accountId(url: string): string | null {
    const prefix = `${this.base}/acme/acct/`;
    if (!url.startsWith(prefix)) return null;
    const id = url.slice(prefix.length);
    return /^[A-Za-z0-9_-]{1,128}$/.test(id) ? id : null;
  }
  order(id: string): string {
    return `${this.base}/acme/order/${id}`;
  }
  authorization(orderId: string, index: number): string {
    return `${this.base}/acme/authz/${orderId}/${index}`;
  }
  challenge(orderId: string, index: number): string {
    return `${this.base}/acme/chall/${orderId}/${index}`;
  }
  finalize(orderId: string): string {
    return `${this.base}/acme/finalize/${orderId}`;
  }
  certificate(orderId: string): string {
    return `${this.base}/acme/cert/${orderId}`;
  }
}

/** A random id for accounts and orders (128 bits, base64url). */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
