/**
 * A throwaway CA and a server certificate for loopback TLS listeners in tests (pebble's own HTTPS, test servers).
 * Made with the openssl CLI, so the files look like what an operator would produce.
 */
import { runChecked } from "./process.ts";

/** Files written by `makeTestCa`. All paths are absolute. */
export interface TestCa {
  dir: string;
  /** The CA certificate (PEM): trust this. */
  caFile: string;
  /** Contents of `caFile`, e.g. for `Deno.createHttpClient({ caCerts: [caPem] })`. */
  caPem: string;
  /** Server certificate for localhost, 127.0.0.1 and ::1, signed by the CA. */
  serverCertFile: string;
  /** Unencrypted PKCS#8 key of the server certificate. */
  serverKeyFile: string;
}

/**
 * Writes an EC P-256 CA (ca.pem, ca.key) and a server certificate (server.pem, server.key) with
 * SAN `DNS:localhost, IP:127.0.0.1, IP:::1` into `dir` (created if missing). Both are valid for 30 days.
 */
export async function makeTestCa(dir: string): Promise<TestCa> {
  await Deno.mkdir(dir, { recursive: true });
  dir = await Deno.realPath(dir);
  const p = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await runChecked("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.pem"),
    "-days",
    "30",
    "-subj",
    "/CN=acmems test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-batch",
  ]);
  await runChecked("openssl", [
    "req",
    ...ec,
    "-keyout",
    p("server.key"),
    "-out",
    p("server.csr"),
    "-subj",
    "/CN=localhost",
    "-batch",
  ]);
  await Deno.writeTextFile(
    p("server.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "",
    ].join("\n"),
  );
  await runChecked("openssl", [
    "x509",
    "-req",
    "-in",
    p("server.csr"),
    "-CA",
    p("ca.pem"),
    "-CAkey",
    p("ca.key"),
    "-set_serial",
    `0x${crypto.randomUUID().replaceAll("-", "")}`,
    "-days",
    "30",
    "-extfile",
    p("server.ext"),
    "-out",
    p("server.pem"),
  ]);
  await Deno.remove(p("server.csr"));
  await Deno.remove(p("server.ext"));
  return {
    dir,
    caFile: p("ca.pem"),
    caPem: await Deno.readTextFile(p("ca.pem")),
    serverCertFile: p("server.pem"),
    serverKeyFile: p("server.key"),
  };
}
