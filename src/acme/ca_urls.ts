/**
 * Which URLs from the CA the client follows. A malicious or broken CA must not make the client fetch (and POST
 * signed requests to) arbitrary places: Deno's fetch reads `file:` URLs, follows redirects anywhere, and would send
 * a JWS signed by the account to any host the CA names.
 *
 * Contract (pure):
 * - A CA URL is followed only when its scheme is `https:`, or `http:` when the directory itself is `http:` (a test
 *   CA on loopback), and its origin is the directory's or one of the allowed origins (`caOrigins`).
 * - Allowed origins are bare origins (`https://host[:port]`, a trailing `/` is fine); an `http:` one only beside an
 *   `http:` directory. Bad ones throw `TypeError` at construction.
 * - A refused URL throws `AcmeUrlRefusedError` naming the URL, where it came from and why.
 */
import { AcmeUrlRefusedError } from "./errors.ts";

/** The scheme and origin rules for one directory. */
export class CaUrlPolicy {
  readonly directoryUrl: string;
  readonly #directoryOrigin: string;
  readonly #schemes: ReadonlySet<string>;
  readonly #origins: ReadonlySet<string>;

  constructor(directoryUrl: string, allowedOrigins: readonly string[] = []) {
    const directory = new URL(directoryUrl);
    if (directory.protocol !== "https:" && directory.protocol !== "http:") {
      throw new TypeError(
        `ACME directory URL "${directoryUrl}" must be https: (or http: for a test CA on loopback)`,
      );
    }
    this.directoryUrl = directoryUrl;
    this.#directoryOrigin = directory.origin;
    this.#schemes = new Set(["https:", directory.protocol]);
    this.#origins = new Set([directory.origin, ...allowedOrigins.map((o) => parseOrigin(o, this.#schemes))]);
  }

  /**
   * The URL (absolute) if the client may follow it; else throws `AcmeUrlRefusedError`. `what` says where it came
   * from: "URL", "Location header", "alternate chain link", "directory entry newOrder", …
   */
  check(url: string, what: string): string {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw this.#refuse(url, what, "it is not an absolute URL");
    }
    if (!this.#schemes.has(parsed.protocol)) {
      const allowed = this.#schemes.has("http:") ? "https: and http: (the directory is http:)" : "https:";
      throw this.#refuse(url, what, `only ${allowed} URLs are followed`);
    }
    if (!this.#origins.has(parsed.origin)) {
      throw this.#refuse(
        url,
        what,
        `its origin ${parsed.origin} is not the directory's (${this.#directoryOrigin}) nor an allowed CA origin ` +
          "(ca-origins)",
      );
    }
    return url;
  }

  #refuse(url: string, what: string, why: string): AcmeUrlRefusedError {
    return new AcmeUrlRefusedError(url, `Refused the CA's ${what} ${url} (directory ${this.directoryUrl}): ${why}`);
  }
}

/** A bare origin in a URL scheme the policy allows; TypeError naming the value otherwise. */
function parseOrigin(text: string, schemes: ReadonlySet<string>): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`CA origin "${text}" is not an origin: write it as https://host or https://host:port`);
  }
  if (!schemes.has(url.protocol)) {
    throw new TypeError(
      `CA origin "${text}" is not an https: origin` +
        (url.protocol === "http:" ? " (http: origins only beside an http: directory, a test CA)" : ""),
    );
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password || /[?#]$/.test(text)) {
    throw new TypeError(
      `CA origin "${text}" is not an origin: drop the path, write it as ${url.origin}`,
    );
  }
  return url.origin;
}
