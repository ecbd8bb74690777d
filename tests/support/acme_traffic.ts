/**
 * Records what an in-process acmems sends to its ACME CA, by wrapping `globalThis.fetch`.
 *
 * `AcmeClient` takes the global fetch when it is constructed (at `App.start()`), so install the recorder before
 * starting the app and keep it installed while the app runs. Every request is passed on unchanged; the recorder only
 * keeps the method, URL and (for JWS POSTs) the decoded payload, so tests can count orders and read `replaces`.
 */

/** One request seen by the recorder. */
export interface RecordedRequest {
  /** Position in the recording (0-based), for `mark()` / `since()`. */
  index: number;
  method: string;
  url: string;
  /** `new URL(url).origin`. */
  origin: string;
  /** The decoded JWS payload of a POST; `""` for POST-as-GET; undefined when the body is not a JWS. */
  payload?: unknown;
}

/** Wraps the global fetch until `restore()` (or `using`). */
export class AcmeTraffic implements Disposable {
  readonly requests: RecordedRequest[] = [];
  readonly #original: typeof fetch;
  readonly #wrapper: typeof fetch;

  constructor() {
    const original = globalThis.fetch;
    this.#original = original;
    this.#wrapper = ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
      let origin = "";
      try {
        origin = new URL(url).origin;
      } catch {
        // Not a URL fetch understands either; it will say so.
      }
      this.requests.push({
        index: this.requests.length,
        method,
        url,
        origin,
        payload: typeof init?.body === "string" ? jwsPayload(init.body) : undefined,
      });
      return original(input, init);
    }) as typeof fetch;
    globalThis.fetch = this.#wrapper;
  }

  /** Puts the original fetch back (only if nobody replaced the wrapper meanwhile). */
  restore(): void {
    if (globalThis.fetch === this.#wrapper) globalThis.fetch = this.#original;
  }

  [Symbol.dispose](): void {
    this.restore();
  }

  /** The current position: pass it to `since` to see only later requests. */
  mark(): number {
    return this.requests.length;
  }

  /** Requests to the CA whose directory is `directoryUrl` (same origin), from position `from` on. */
  since(from: number, directoryUrl: string): RecordedRequest[] {
    const origin = new URL(directoryUrl).origin;
    return this.requests.slice(from).filter((r) => r.origin === origin);
  }

  /** The newOrder requests (POSTs to `newOrderUrl`, from the CA's directory) from position `from` on. */
  orders(from: number, newOrderUrl: string): RecordedRequest[] {
    return this.requests.slice(from).filter((r) => r.method === "POST" && r.url === newOrderUrl);
  }
}

/** The payload of a flattened JWS JSON body, decoded; undefined when `body` is not one. */
export function jwsPayload(body: string): unknown {
  try {
    const jws = JSON.parse(body);
    if (typeof jws?.payload !== "string" || typeof jws?.protected !== "string") return undefined;
    if (jws.payload === "") return "";
    return JSON.parse(new TextDecoder().decode(base64UrlDecode(jws.payload)));
  } catch {
    return undefined;
  }
}

function base64UrlDecode(text: string): Uint8Array {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
