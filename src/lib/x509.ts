/**
 * `@peculiar/x509`, loaded at its first use: its CommonJS bundle costs tens of ms of start-up and several MB of
 * heap, and only the CSR signature check, the chain check and revocation pairs need it (never `check-config`, and
 * `serve` not before the first new CSR).
 *
 * Contract: one load per process (the promise is shared); a failed load is retried at the next call.
 */
export type X509 = typeof import("@peculiar/x509");

let loading: Promise<X509> | undefined;

/** The `@peculiar/x509` module. */
export function loadX509(): Promise<X509> {
  loading ??= import("@peculiar/x509").catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}
