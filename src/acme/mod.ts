/**
 * acmems' ACME client: RFC 8555 over fetch + Web Crypto, with RFC 9773 ARI, profiles and EAB.
 * Self-contained: imports nothing from the rest of acmems.
 *
 * ```ts
 * const client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair("ec-p256"), caCerts });
 * await client.newAccount({ termsOfServiceAgreed: true });
 * const order = await client.newOrder({ identifiers: ["www.example.org"] });
 * // … answer challenges, pollOrder → ready, finalize, pollOrder → valid, downloadCertificate …
 * client.close();
 * ```
 */
export {
  type AccountResult,
  AcmeClient,
  type AcmeClientOptions,
  type NewAccountOptions,
  type NewOrderOptions,
  type PollOptions,
  type RequestOptions,
  type RevokeOptions,
  toIdentifier,
} from "./client.ts";
export {
  ACME_ERROR_PREFIX,
  type AcmeErrorType,
  AcmeProblem,
  type AcmeSubproblem,
  isProblem,
  type ProblemDocument,
  problemFromDocument,
} from "./problem.ts";
export {
  AcmeNetworkError,
  AcmeProtocolError,
  AcmeTimeoutError,
  AcmeUnsupportedError,
  AcmeUrlRefusedError,
} from "./errors.ts";
export type {
  AccountStatus,
  AcmeAccount,
  AcmeAuthorization,
  AcmeChallenge,
  AcmeDirectory,
  AcmeDirectoryMeta,
  AcmeIdentifier,
  AcmeOrder,
  AuthorizationStatus,
  CertificateChain,
  ChallengeStatus,
  OrderStatus,
  RenewalInfo,
} from "./types.ts";
export { REVOCATION_REASON } from "./types.ts";
export { parseRetryAfter, retryAfterOf } from "./retry_after.ts";
export { DEFAULT_POLL_PACE, pollDelay, type PollPace } from "./poll_schedule.ts";
export {
  assertValidToken,
  dns01TxtValue,
  exportPublicJwk,
  jwkThumbprint,
  keyAuthorization,
  type PublicJwk,
} from "./jwk.ts";
export { type FlattenedJws, type JwsAlgorithm, jwsAlgorithm, signJws } from "./jws.ts";
export { type EabAlgorithm, type EabCredentials, externalAccountBinding } from "./eab.ts";
export {
  describeKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  KEY_TYPES,
  type KeyOptions,
  type KeyType,
} from "./keys.ts";
export {
  ARI_DEFAULT_RETRY_MS,
  ARI_MAX_RETRY_MS,
  ARI_MIN_RETRY_MS,
  ariCertId,
  ariCertIdFromParts,
  type AriCertParts,
  parseRenewalInfo,
} from "./ari.ts";
export { decodePem, decodePemBlocks, encodePem, type PemBlock, splitPemChain } from "./pem.ts";
export { NoncePool } from "./nonce_pool.ts";
export { type FetchLike } from "./http.ts";
