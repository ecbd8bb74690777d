/**
 * The /sign request body: framing checks on the headers, then reading exactly Content-Length bytes within the size
 * limit and the body timeout.
 *
 * Contract: `checkFraming` decides from the headers alone, so an oversized or ambiguous request is refused before a
 * byte of its body is read. `receiveBody` reads at most `length` bytes (never more than max-size; without a length,
 * a chunked body, up to max-size and `too-large` beyond); at the time limit (a timer per read, or the server's
 * shared `BodyDeadlines`) the read is given up (a reader is cancelled); a body shorter or longer than announced is
 * refused. With `framed` (a request from acmems' own listener, whose HTTP server delivers exactly Content-Length
 * bytes) a body with a length is taken whole with `request.bytes()`, no stream. Failures come back as values (an
 * `IssueFailure` with its kind and the audit outcome), never as thrown errors; nobody retries.
 */
import { IssueFailure } from "../issuance/failure.ts";
import type { BodyDeadlines } from "./body_deadlines.ts";

/** A refusal: the failure the client gets and the audit record's outcome. */
export interface BodyRefusal {
  ok: false;
  failure: IssueFailure;
  outcome: string;
}

function refuse(kind: IssueFailure["kind"], message: string, outcome: string): BodyRefusal {
  return { ok: false, failure: new IssueFailure(kind, message), outcome };
}

/**
 * The announced body length, or why the framing is refused: no Content-Length (`length-required`), both
 * Content-Length and Transfer-Encoding, or a Content-Length that is not a non-negative integer (`bad-request`),
 * above `maxSize` (`too-large`).
 */
export function checkFraming(headers: Headers, maxSize: number): { ok: true; length: number } | BodyRefusal {
  const lengthHeader = headers.get("content-length");
  if (lengthHeader === null) {
    return refuse(
      "length-required",
      "Content-Length is required: send the CSR as the request body (curl --data-binary @host.csr).",
      "no content-length",
    );
  }
  // Both framings at once is request smuggling's raw material (RFC 9112 §6.3): refuse, whatever the length says.
  // get, not has: on a served request `has` reads every header, `get` asks for this one.
  if (headers.get("transfer-encoding") !== null) {
    return refuse(
      "bad-request",
      "Send either Content-Length or Transfer-Encoding, not both.",
      "content-length with transfer-encoding",
    );
  }
  const digits = lengthHeader.trim();
  if (!allDigits(digits)) {
    return refuse(
      "bad-request",
      `Content-Length "${lengthHeader.slice(0, 40)}" is not a non-negative integer.`,
      "bad content-length",
    );
  }
  // Any digit string is an integer; one too long for a safe JS number is above every max-size anyway.
  let zeros = 0;
  while (zeros < digits.length - 1 && digits.charCodeAt(zeros) === 48) zeros++;
  const significant = zeros === 0 ? digits : digits.slice(zeros);
  if (significant.length > 15 || Number(significant) > maxSize) {
    const shown = significant.length > 20 ? `${significant.slice(0, 20)}… (${significant.length} digits)` : significant;
    return refuse(
      "too-large",
      `The CSR is ${shown} bytes; this server accepts at most ${maxSize} ([mgmt] max-size).`,
      "too large",
    );
  }
  return { ok: true, length: Number(significant) };
}

/** True for a non-empty string of ASCII digits (a loop, not a regex: every /sign request checks one). */
function allDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The body, or `body-timeout` when it did not arrive in time, `bad-request` when it could not be read completely. */
export async function receiveBody(
  request: Request,
  length: number | null,
  maxSize: number,
  timeoutMs: number,
  deadlines?: BodyDeadlines,
  framed = false,
): Promise<{ ok: true; body: Uint8Array } | BodyRefusal> {
  try {
    const body = framed && length !== null && length <= maxSize
      ? await readFramed(request, length, timeoutMs, deadlines)
      : await readBody(request, length, maxSize, timeoutMs, deadlines);
    return { ok: true, body };
  } catch (error) {
    if (error instanceof BodyTimeout) {
      return refuse("body-timeout", "The request body did not arrive in time.", "body timeout");
    }
    if (error instanceof BodyTooLarge) {
      return refuse("too-large", `The body is larger than ${maxSize} bytes ([mgmt] max-size)`, "too large");
    }
    return refuse("bad-request", "The request body could not be read completely.", "body error");
  }
}

/** Thrown by `readBody` when the time limit ends the read. */
export class BodyTimeout extends Error {}

/** Thrown by `readBody` when a body without Content-Length (chunked) goes past `max`. */
export class BodyTooLarge extends Error {}

/**
 * Reads a body the HTTP server frames by its Content-Length (`length`, within max-size: `checkFraming`) with
 * `request.bytes()` within the time limit; throws `BodyTimeout`, or Error when the length differs. A small body
 * that has arrived whole is handed over without a stream: the stream and reader of `readBody` cost a /sign cache
 * hit CPU, and V8's scavenger keeps what they hold alive past the next collection, so the old generation grew by
 * about 1 KB per request under load (bench/README.md, seventh round). At the time limit the read is left to end
 * when the server closes the request after its answer.
 */
export async function readFramed(
  request: Request,
  length: number,
  timeoutMs: number,
  deadlines?: BodyDeadlines,
): Promise<Uint8Array> {
  const reading = request.bytes();
  const body = await new Promise<Uint8Array>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expire = () => reject(new BodyTimeout());
    const release = deadlines ? deadlines.watch(timeoutMs, expire) : undefined;
    if (!release) timer = setTimeout(expire, timeoutMs);
    const done = () => release ? release() : clearTimeout(timer);
    // Both outcomes are handled here, so a read that fails after the timeout is no unhandled rejection.
    reading.then((bytes) => (done(), resolve(bytes)), (error) => (done(), reject(error)));
  });
  if (body.length !== length) throw new Error(`body of ${body.length} bytes, Content-Length ${length}`);
  return body;
}

/**
 * Reads exactly `length` (≤ max) bytes within the time limit, or, with `length` null (chunked), the whole body up
 * to `max` bytes; throws `BodyTimeout`, `BodyTooLarge` (null length only) or, for a wrong length, Error.
 */
export async function readBody(
  request: Request,
  length: number | null,
  max: number,
  timeoutMs: number,
  deadlines?: BodyDeadlines,
): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // At the time limit the reader is cancelled, which ends a pending read (done); no race per chunk. The server
  // passes its shared deadlines (no timer per request: body_deadlines.ts).
  let timedOut = false;
  const expire = () => {
    timedOut = true;
    reader.cancel().catch(() => {});
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const release = deadlines ? deadlines.watch(timeoutMs, expire) : undefined;
  if (!release) timer = setTimeout(expire, timeoutMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (timedOut) throw new BodyTimeout();
      if (done) break;
      total += value.length;
      if (total > Math.min(length ?? max, max)) {
        throw length === null ? new BodyTooLarge() : new Error("body longer than Content-Length");
      }
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw timedOut ? new BodyTimeout() : error;
  } finally {
    if (release) release();
    else clearTimeout(timer);
  }
  if (length !== null && total !== length) throw new Error("body shorter than Content-Length");
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}
