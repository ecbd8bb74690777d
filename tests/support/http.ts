/** One HTTP request with its whole answer read (30 s limit), and POST /sign with a PEM CSR. */

/** An HTTP answer, read completely. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
  /** Milliseconds from sending to the end of the body. */
  ms: number;
}

/** One request (30 s limit), body read completely. */
export async function request(url: string, init: RequestInit & { client?: Deno.HttpClient } = {}): Promise<HttpAnswer> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000), ...init });
  const body = await response.text();
  return { status: response.status, headers: response.headers, body, ms: Date.now() - started };
}

/** POST /sign with a PEM CSR. */
export function postSign(
  baseUrl: string,
  csrPem: string,
  headers: Record<string, string> = {},
  client?: Deno.HttpClient,
): Promise<HttpAnswer> {
  return request(`${baseUrl}/sign`, { method: "POST", body: csrPem, headers, client });
}
