/**
 * What a /sign request decided before issuance, remembered for an exact repeat: a host asks again with the same CSR,
 * the same `Authentication` header, from the same address.
 *
 * Contract: `find` answers only for the same context object (a reload builds a new one, so a new config starts with
 * nothing remembered), the same client text, the same header value (or both absent) and byte-identical body; then
 * it gives back what `remember` was handed after that request was admitted: its names, the admitting block, the
 * profile and the issue request. All of that is a pure function of those inputs under one context (the CSR's parse
 * and signature, its rules, the policy's address, HMAC and name checks, the profile and wildcard checks), so a
 * repeat may skip them. Issuance still decides the answer on every request (cache freshness, compromised keys,
 * renewal). Refusals are never remembered: a refused request is decided afresh each time. Bounded: at most
 * `MAX_REPEATS` requests per context, then it starts over.
 */
import type { AuthBlock } from "../config/types.ts";
import type { IssueRequest } from "../issuance/request.ts";
import { sameBytes } from "../lib/bytes.ts";

/** What an admitted request decided before issuance. */
export interface AdmittedRequest {
  names: string[];
  block: AuthBlock;
  profile: string | undefined;
  /** Shared by every repeat: issuance reads it and never changes it. */
  request: IssueRequest;
}

/** Requests remembered per context before the memo starts over. */
export const MAX_REPEATS = 1024;

interface Remembered {
  body: Uint8Array;
  admitted: AdmittedRequest;
}

/** Per context: by client, then by header value ("" for none), the bodies admitted. */
type ContextMemo = { size: number; byClient: Map<string, Map<string, Remembered[]>> };

export class AdmittedRepeats {
  readonly #contexts = new WeakMap<object, ContextMemo>();

  /** The earlier decision for exactly this request, or undefined. */
  find(context: object, client: string, authentication: string | null, body: Uint8Array): AdmittedRequest | undefined {
    const list = this.#contexts.get(context)?.byClient.get(client)?.get(authentication ?? "");
    if (list === undefined) return undefined;
    for (const remembered of list) if (sameBytes(remembered.body, body)) return remembered.admitted;
    return undefined;
  }

  /** Remembers an admitted request's decision (a copy of the body: the caller's buffer is not ours to keep). */
  remember(
    context: object,
    client: string,
    authentication: string | null,
    body: Uint8Array,
    admitted: AdmittedRequest,
  ): void {
    let memo = this.#contexts.get(context);
    if (memo === undefined || memo.size >= MAX_REPEATS) {
      this.#contexts.set(context, memo = { size: 0, byClient: new Map() });
    }
    let byHeader = memo.byClient.get(client);
    if (byHeader === undefined) memo.byClient.set(client, byHeader = new Map());
    const header = authentication ?? "";
    let list = byHeader.get(header);
    if (list === undefined) byHeader.set(header, list = []);
    if (list.some((r) => sameBytes(r.body, body))) return;
    list.push({ body: body.slice(), admitted });
    memo.size++;
  }
}
