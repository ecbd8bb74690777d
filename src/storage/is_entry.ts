/** Shape check of a stored entry, for every storage that parses JSON it did not just write. Pure. */
import type { Entry } from "./types.ts";

/** Checks that a parsed JSON value has the shape of an Entry (guards against torn or foreign files). */
export function isEntry(value: unknown): value is Entry {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  return e.version === 1 && typeof e.key === "string" && typeof e.chain === "string" &&
    typeof e.notAfter === "string" && typeof e.notBefore === "string" && typeof e.csr === "string" &&
    Array.isArray(e.names) && typeof e.directoryUrl === "string" && typeof e.verification === "string" &&
    !Number.isNaN(Date.parse(e.notAfter as string)) && !Number.isNaN(Date.parse(e.notBefore as string));
}
