/**
 * Reading a CA answer: its JSON body, its resource URL and its Location header. Pure; every malformed
 * answer throws `AcmeProtocolError` naming the URL (nothing here retries).
 */
import { AcmeProtocolError } from "./errors.ts";
import type { HttpResponse } from "./http.ts";

/** The answer's body as JSON; `AcmeProtocolError` if it is not JSON. */
export function parseJson<T>(res: HttpResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new AcmeProtocolError(res.url, `Answer from ${res.url} (HTTP ${res.status}) is not valid JSON`);
  }
}

/** Adds the resource URL to a CA object (the CA's own `url` field, as challenges have, is kept). */
export function withUrl<T extends { url: string }>(json: unknown, url: string): T {
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new AcmeProtocolError(url, `Answer from ${url} is not a JSON object`);
  }
  return { url, ...json } as T;
}

/** The absolute Location of a created resource; `AcmeProtocolError` if there is none. */
export function requireLocation(res: HttpResponse): string {
  const location = res.headers.get("location");
  if (!location) throw new AcmeProtocolError(res.url, `Answer from ${res.url} has no Location header`);
  return new URL(location, res.url).href;
}
