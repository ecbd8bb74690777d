/**
 * The ACME front end as the mgmt router holds it: the same `AcmeFront` as `createAcmeFront` (mod.ts), whose code
 * (router, JWS checks, orders, finalize, stores: a sixth of the server's modules) is imported at the first
 * `/acme/…` request. Most configs have no `acme-eab-kid` block and never load it; `serve` starts without it.
 *
 * Contract: answers are those of mod.ts (the first request waits for the import); `close` before any request
 * has nothing to close.
 */
import type { AcmeFront, AcmeFrontOptions } from "./mod.ts";

export type { AcmeFront, AcmeFrontContext, AcmeFrontOptions } from "./mod.ts";

/** The path prefix the mgmt router hands to the front end (mod.ts's ACME_PREFIX, without loading mod.ts). */
export const ACME_PREFIX = "/acme/";

/** `createAcmeFront(opts)`, created at the first request. */
export function createAcmeFront(opts: AcmeFrontOptions): AcmeFront {
  let front: Promise<AcmeFront> | undefined;
  const load = () => front ??= import("./mod.ts").then((mod) => mod.createAcmeFront(opts));
  return {
    handle: async (context, request, info) => (await load()).handle(context, request, info),
    busy: async (context, request, info, retryAfterSeconds) =>
      (await load()).busy(context, request, info, retryAfterSeconds),
    refuse: async (context, request, info, detail) => (await load()).refuse(context, request, info, detail),
    close: async () => {
      if (front) await (await front).close();
    },
  };
}
