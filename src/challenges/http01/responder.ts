/**
 * The http-01 responder: the pending key authorizations of one http01 verification, and the handler its
 * challenge listeners run.
 *
 * `GET /.well-known/acme-challenge/<token>` answers the key authorization (text/plain) while the authorization is
 * pending and the request's host (the Host header, or the host of an absolute-form request target, RFC 9112 §3.2.2;
 * port, case and a trailing dot removed; an IP literal, IPv6 in brackets, compared as the address it is, RFC 8738 §3)
 * is the authorization's name; anything else
 * is 404, so several acmems instances can be chained behind nginx with `proxy_next_upstream … http_404`. Tokens that
 * are not base64url (RFC 8555 §8.3) are 404 without a lookup. Entries are removed when the authorization ends.
 *
 * With a shared storage (postgres) a token this instance did not place is asked of `fallback`: the listener is
 * internet-facing, so that lookup must cost no database round trip per request (the storage answers from its
 * in-memory copy and at most waits, bounded, for another instance's answer to arrive through its change feed: see
 * src/storage/postgres/challenges.ts). Here it is bounded once more by `fallbackTimeoutMs`.
 */
import { ipName } from "../../csr/names.ts";

export const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Removes the port, brackets, case and a trailing dot from a Host header value; an IP address comes out in its
 * canonical text (`[2001:DB8:0::1]:80` → `2001:db8::1`).
 */
export function normalizeHost(host: string | null): string | null {
  if (!host) return null;
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const close = h.indexOf("]");
    if (close < 0) return null;
    h = h.slice(1, close);
  } else {
    const colon = h.lastIndexOf(":");
    // One colon: host:port. More than one without brackets: a bare IPv6 address, keep it.
    if (colon >= 0 && h.indexOf(":") === colon) h = h.slice(0, colon);
  }
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h === "" ? null : (IP_CHARS.test(h) ? ipName(h) : null) ?? h;
}

/** A name as the responder compares it: an IP address in canonical text, a DNS name lower-case without a final dot. */
function canonicalName(name: string): string {
  // Only a name made of hex digits, dots and colons can be an address: skip the parse for every other Host (the
  // challenge listener's hot path).
  return (IP_CHARS.test(name) ? ipName(name) : null) ?? name.toLowerCase().replace(/\.$/, "");
}

const IP_CHARS = /^[0-9a-fA-F.:]+$/;

export interface ChallengeCounters {
  served(): void;
  notFound(): void;
}

/** A challenge another instance stored in a shared storage. */
export interface SharedChallenge {
  keyAuthorization: string;
  /** The authorization's name: the request's Host must be it. */
  host: string;
}

/** Pending http-01 answers, keyed by token, then by name. */
export class Http01Responder {
  /**
   * By token first: an unknown token (what a scanner sends) is answered without looking at the Host, and a known one
   * is usually matched by the Host header as sent (a CA sends the bare name), without normalizing it.
   */
  readonly #answers = new Map<string, Map<string, string>>();
  /**
   * Looks a token up in a shared storage when this instance does not know it (several instances behind one name:
   * whichever the CA reaches answers). Called for every unknown token an outsider sends: it must not query a
   * database per call (`ChallengeStore.getChallenge`'s contract). Bounded by `fallbackTimeoutMs`; failures count as
   * unknown (404).
   */
  fallback?: (token: string) => Promise<SharedChallenge | null>;
  fallbackTimeoutMs = 2000;

  constructor(private readonly counters?: ChallengeCounters) {}

  /** Starts answering `token` for `name` (the identifier value of the authorization). */
  add(name: string, token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new Error(`The CA sent an invalid http-01 token "${token.slice(0, 40)}"`);
    let names = this.#answers.get(token);
    if (names === undefined) this.#answers.set(token, names = new Map());
    names.set(canonicalName(name), keyAuthorization);
  }

  remove(name: string, token: string): void {
    const names = this.#answers.get(token);
    if (names === undefined) return;
    names.delete(canonicalName(name));
    if (names.size === 0) this.#answers.delete(token);
  }

  /** The key authorization for a request's Host and token, if pending. */
  lookup(host: string | null, token: string): string | undefined {
    return TOKEN.test(token) ? this.lookupChecked(host, token) : undefined;
  }

  /** `lookup` for a token already checked against TOKEN (the request handler checks it once). */
  lookupChecked(host: string | null, token: string): string | undefined {
    const names = this.#answers.get(token);
    if (names === undefined || host === null) return undefined;
    // A canonical name normalizes to itself, so a Host sent as the bare name needs no normalizing.
    const exact = names.get(host);
    if (exact !== undefined) return exact;
    const name = normalizeHost(host);
    return name === null ? undefined : names.get(name);
  }

  /** Pending answers (token and name pairs). */
  get size(): number {
    let size = 0;
    for (const names of this.#answers.values()) size += names.size;
    return size;
  }

  clear(): void {
    this.#answers.clear();
  }

  /** The handler for this verification's challenge listeners. Hot path (a CA's validation bursts): no URL object. */
  handle = (request: Request): Response | Promise<Response> => {
    const method = request.method;
    // Anything but a pending token fetched with GET or HEAD is 404, so nginx's http_404 chaining moves on.
    if (method !== "GET" && method !== "HEAD") return this.#notFound();
    const url = request.url;
    const authority = url.indexOf("//") + 2;
    const pathStart = url.indexOf("/", authority);
    if (pathStart >= 0 && url.startsWith(CHALLENGE_PREFIX, pathStart)) {
      const tokenStart = pathStart + CHALLENGE_PREFIX.length;
      const query = url.indexOf("?", tokenStart);
      const token = query < 0 ? url.slice(tokenStart) : url.slice(tokenStart, query);
      if (TOKEN.test(token)) {
        // The request's host is the URL's authority: Deno.serve builds it from the Host header, or from an
        // absolute-form request target, whose host a server must use instead of Host (RFC 9112 §3.2.2). Reading it
        // there spares Deno copying every request header for this request.
        const host = url.slice(authority, pathStart);
        const answer = this.lookupChecked(host, token);
        if (answer !== undefined) return this.#answer(method, answer);
        if (this.fallback) return this.#shared(method, host, token);
      }
    }
    return this.#notFound();
  };

  #answer(method: string, answer: string): Response {
    this.counters?.served();
    // Deno.serve sets Content-Length for a string body itself; only HEAD needs it spelled out.
    if (method === "HEAD") {
      return new Response(null, {
        headers: { "Content-Type": "text/plain", "Content-Length": String(answer.length) },
      });
    }
    return new Response(answer, { headers: { "Content-Type": "text/plain" } });
  }

  #notFound(): Response {
    this.counters?.notFound();
    return new Response("Not found.\n", { status: 404, headers: { "Content-Type": "text/plain" } });
  }

  async #shared(method: string, host: string | null, token: string): Promise<Response> {
    const name = normalizeHost(host);
    if (name === null) return this.#notFound();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const found = await Promise.race([
        this.fallback!(token),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), this.fallbackTimeoutMs))),
      ]);
      if (found && canonicalName(found.host) === name) {
        return this.#answer(method, found.keyAuthorization);
      }
    } catch {
      // The shared storage is down: only what this instance knows can be answered.
    } finally {
      clearTimeout(timer);
    }
    return this.#notFound();
  }
}
