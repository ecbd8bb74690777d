/**
 * The values acmems uses when a config leaves an option or a section out (the README states each one).
 */

/** The CA when `acme-server` is not set: Let's Encrypt staging, whose certificates are not trusted. */
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** Whether `acmeServer` is one of Let's Encrypt's directories (its issuer domain name, profiles and limits). */
export const isLetsEncrypt = (function isLetsEncrypt(acmeServer: string): boolean {
  let host = "";
  try {
    host = new URL(acmeServer).hostname;
  } catch { /* not a URL: not Let's Encrypt */ }
  return /(^|\.)api\.letsencrypt\.org$/i.test(host);
}).bind(null);
export const DEFAULT_MGMT_LISTENERS = ["127.0.0.1:1313", "[::1]:1313"];
export const DEFAULT_HTTP01_LISTENER = "[::]:1380";
export const DEFAULT_MAX_SIZE = 4096;
export const DEFAULT_SIGN_TIMEOUT_MS = 90_000;
export const DEFAULT_RENEW_WITHIN_DAYS = 14;
export const DEFAULT_RENEW_ACTIVE_DAYS = 30;
/** The http01 verification a config without any [verification] section gets. */
export const IMPLICIT_VERIFICATION_NAME = "http";
/** The file storage (`<account dir>/cache`) a config without any [storage] section gets. */
export const IMPLICIT_STORAGE_NAME = "cache";
