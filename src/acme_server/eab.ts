/**
 * External account binding, the server side (RFC 8555 §7.3.4): the `externalAccountBinding` of a newAccount request
 * binds the new account to the auth block whose `acme-eab-kid` it names.
 *
 * Checks: a flattened JWS whose protected header has `alg` HS256/HS384/HS512, `kid` (a block's `acme-eab-kid`),
 * `url` equal to the outer JWS's url and no nonce; its payload is the outer JWS's `jwk` (same key); its MAC verifies
 * under the block's `acme-eab-hmac-key`. Failures are `AcmeError`s: `malformed` for the shape, `unauthorized` for an
 * unknown key id, a foreign key or a wrong MAC (the detail never says which blocks exist). Pure apart from Web Crypto.
 */
import { fromB64url, fromUtf8, utf8 } from "../acme/encoding.ts";
import type { AuthBlock } from "../config/types.ts";
import { type Jwk, thumbprint } from "./jws.ts";
import { AcmeError } from "./problems.ts";

const HASHES: Record<string, string> = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" };

/** The block the binding names, once every check passed. */
export async function verifyEab(
  binding: unknown,
  outerJwk: Jwk,
  outerUrl: string,
  blocks: readonly AuthBlock[],
): Promise<AuthBlock> {
  if (typeof binding !== "object" || binding === null || Array.isArray(binding)) {
    throw new AcmeError("malformed", "externalAccountBinding must be a flattened JWS object");
  }
  const jws = binding as Record<string, unknown>;
  if (typeof jws.protected !== "string" || typeof jws.payload !== "string" || typeof jws.signature !== "string") {
    throw new AcmeError("malformed", "externalAccountBinding needs protected, payload and signature strings");
  }
  let header: Record<string, unknown>;
  let payload: unknown;
  let mac: Uint8Array<ArrayBuffer>;
  try {
    header = JSON.parse(fromUtf8(fromB64url(jws.protected)));
    payload = JSON.parse(fromUtf8(fromB64url(jws.payload)));
    mac = fromB64url(jws.signature);
  } catch {
    throw new AcmeError("malformed", "externalAccountBinding is not valid base64url JSON");
  }
  const hash = typeof header?.alg === "string" ? HASHES[header.alg] : undefined;
  if (!hash) {
    throw new AcmeError(
      "badSignatureAlgorithm",
      `externalAccountBinding alg ${JSON.stringify(header?.alg ?? null)} is not accepted: use HS256`,
      { algorithms: Object.keys(HASHES) },
    );
  }
  if (header.nonce !== undefined) throw new AcmeError("malformed", "externalAccountBinding must not carry a nonce");
  if (header.url !== outerUrl) {
    throw new AcmeError("unauthorized", "externalAccountBinding url is not this newAccount URL");
  }
  if (typeof header.kid !== "string" || header.kid === "") {
    throw new AcmeError("malformed", "externalAccountBinding has no kid");
  }
  if (typeof payload !== "object" || payload === null || typeof (payload as Jwk).kty !== "string") {
    throw new AcmeError("malformed", "externalAccountBinding payload is not a JWK");
  }
  let same = false;
  try {
    same = (await thumbprint(payload as Jwk)) === (await thumbprint(outerJwk));
  } catch {
    same = false;
  }
  if (!same) {
    throw new AcmeError("unauthorized", "externalAccountBinding payload is not the key that signs this request");
  }
  const block = blocks.find((b) => b.acmeEab?.kid === header.kid);
  if (!block) {
    throw new AcmeError(
      "unauthorized",
      `EAB key id "${String(header.kid).slice(0, 64)}" is unknown: use the acme-eab-kid of your auth block`,
    );
  }
  const key = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(block.acmeEab!.hmacKey),
    { name: "HMAC", hash },
    false,
    ["verify"],
  );
  if (!(await crypto.subtle.verify("HMAC", key, mac, utf8(`${jws.protected}.${jws.payload}`)))) {
    throw new AcmeError(
      "unauthorized",
      `The externalAccountBinding MAC does not verify for EAB key id "${header.kid}": check the HMAC key`,
    );
  }
  return block;
}
