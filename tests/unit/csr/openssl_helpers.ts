/**
 * Real CSRs for the intake and policy tests, made with the `openssl` command line the way hosts make them.
 * Keys are generated once per type and reused (RSA 4096 takes a while); every CSR is a fresh `openssl req -new`.
 */

export type KeySpec =
  | "rsa:1024"
  | "rsa:2048"
  | "rsa:3072"
  | "rsa:4096"
  | "ec:P-256"
  | "ec:P-384"
  | "ec:P-521"
  | "ed25519";

export interface CsrSpec {
  key?: KeySpec;
  /** Subject DN in openssl `-subj` syntax; default `/CN=<first DNS SAN>` or `/O=acmems test` without SANs. */
  subj?: string;
  /** subjectAltName value, e.g. `DNS:a.example.org,IP:192.0.2.1`; omit for no SAN extension. */
  san?: string;
  /** More `-addext` values. */
  addext?: string[];
  /** `-sha1`, `-sha384`, `-sigopt rsa_padding_mode:pss`, … */
  extraArgs?: string[];
}

const decoder = new TextDecoder();

async function openssl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const out = await child.output();
  if (!out.success) throw new Error(`openssl ${args.join(" ")} failed: ${decoder.decode(out.stderr)}`);
  return out.stdout;
}

const KEYGEN: Record<KeySpec, string[]> = {
  "rsa:1024": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
  "rsa:2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
  "rsa:3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
  "rsa:4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
  "ec:P-256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec:P-384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
  "ec:P-521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
  "ed25519": ["-algorithm", "ed25519"],
};

/** Makes CSRs and certificates in a temporary directory; call `close()` at the end. */
export class OpensslFactory {
  #keys = new Map<KeySpec, Promise<string>>();
  #counter = 0;

  private constructor(readonly dir: string) {}

  static async create(): Promise<OpensslFactory> {
    return new OpensslFactory(await Deno.makeTempDir({ prefix: "acmems-csr-test-" }));
  }

  /** Path of a (cached) private key file of the given type. */
  key(spec: KeySpec): Promise<string> {
    let key = this.#keys.get(spec);
    if (!key) {
      const path = `${this.dir}/${spec.replace(/[^a-z0-9-]/gi, "_")}.key`;
      key = openssl(["genpkey", ...KEYGEN[spec], "-out", path]).then(() => path);
      this.#keys.set(spec, key);
    }
    return key;
  }

  /** A PEM CSR. */
  async csr(spec: CsrSpec = {}): Promise<string> {
    const key = await this.key(spec.key ?? "ec:P-256");
    const firstDns = /DNS:([^,]+)/.exec(spec.san ?? "")?.[1];
    const subj = spec.subj ?? (firstDns && firstDns.length <= 64 ? `/CN=${firstDns}` : "/O=acmems test");
    const args = ["req", "-new", "-key", key, "-subj", subj, "-utf8", "-batch"];
    if (spec.san !== undefined) args.push("-addext", `subjectAltName=${spec.san}`);
    for (const ext of spec.addext ?? []) args.push("-addext", ext);
    args.push(...(spec.extraArgs ?? []));
    return decoder.decode(await openssl(args));
  }

  /** A self-signed PEM certificate. */
  async certificate(name = "www.example.org"): Promise<string> {
    const key = await this.key("ec:P-256");
    return decoder.decode(
      await openssl(["req", "-x509", "-new", "-key", key, "-subj", `/CN=${name}`, "-days", "1", "-batch"]),
    );
  }

  /** A PEM private key (for "do not send the key" tests). */
  async privateKeyPem(): Promise<string> {
    return await Deno.readTextFile(await this.key("ec:P-256"));
  }

  /** Converts a PEM CSR to DER with openssl (independent of our PEM code). */
  async toDer(pem: string): Promise<Uint8Array> {
    const path = `${this.dir}/convert-${this.#counter++}.csr`;
    await Deno.writeTextFile(path, pem);
    return await openssl(["req", "-in", path, "-outform", "DER"]);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#keys.values());
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** DER of the first PEM block in `pem`. */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const base64 = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
  const binary = atob(base64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** PEM with 64-character lines. */
export function derToPem(der: Uint8Array, label = "CERTIFICATE REQUEST"): string {
  let binary = "";
  for (const b of der) binary += String.fromCharCode(b);
  const base64 = btoa(binary);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** `n` distinct DNS names `h0.example.org` … as a SAN value. */
export function manyNames(n: number, domain = "example.org"): string {
  return Array.from({ length: n }, (_, i) => `DNS:h${i}.${domain}`).join(",");
}

/** Lower-case hex SHA-256. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
