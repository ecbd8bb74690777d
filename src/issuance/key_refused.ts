/**
 * Whether a CA's problem means it refused the signature of our account key. After `acmems register --rollover-key`
 * the CA knows only the new key, and every request a running `serve` signs with the old one is refused this way
 * (RFC 8555 §6.2; pebble and Boulder: `malformed` "JWS verification error") until it reads account.pem again.
 * Pure.
 */
import { type AcmeProblem, isProblem } from "../acme/mod.ts";

export function isKeyRefused(error: unknown): boolean {
  if (!isProblem(error)) return false;
  const problem = error as AcmeProblem;
  return (problem.is("malformed") || problem.is("unauthorized")) &&
    /JWS verification|signature (is )?invalid|invalid signature|verify (the )?signature/i.test(problem.detail ?? "");
}
