import { assertEquals } from "../../support/assert.ts";
import { ariCertIdOf } from "../../../src/renewal/ari_id.ts";
import { ariCertId } from "../../../src/acme/mod.ts";

// RFC 9773 Appendix A: the example certificate and its identifier.
const RFC9773_CERT = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----`;

Deno.test("ARI certificate id with @peculiar/x509 matches RFC 9773 Appendix A and the ACME module", () => {
  assertEquals(ariCertIdOf(RFC9773_CERT), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  assertEquals(ariCertIdOf(RFC9773_CERT), ariCertId(RFC9773_CERT));
});
