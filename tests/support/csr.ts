/**
 * Test CSRs made with `openssl req`, the way a real host would make them, so parsing and policy code is tested
 * against real-world encodings rather than ones produced by our own code.
 */
import { runChecked } from "./process.ts";

/** Key types `makeCsr` can generate. */
export type CsrKeyType = "rsa-2048" | "rsa-3072" | "rsa-4096" | "ec-p256" | "ec-p384";

/** Options for `makeCsr`. */
export interface CsrOptions {
  /** subjectAltName entries; IP literals become `IP:`, everything else `DNS:`. Empty: no SAN extension. */
  names: string[];
  /** Subject CN. Default: the first DNS name if it fits (64 chars). `""`: empty subject. */
  cn?: string;
  /** Default "ec-p256" (fast). */
  key?: CsrKeyType;
  /** More `-addext` values, e.g. `"keyUsage=critical,digitalSignature"`. */
  extraAddext?: string[];
  /** Where to write the files. Default: a per-process temp dir removed when the test process exits. */
  dir?: string;
  /** File name stem (`<basename>.csr`, `<basename>.key`). Default: derived from the first name plus a random suffix. */
  basename?: string;
}

/** A CSR and its private key, as PEM text and as files. */
export interface TestCsr {
  csrPem: string;
  /** Unencrypted PKCS#8 PEM. */
  keyPem: string;
  csrFile: string;
  keyFile: string;
}

const KEY_ARGS: Record<CsrKeyType, string[]> = {
  "rsa-2048": ["-newkey", "rsa:2048"],
  "rsa-3072": ["-newkey", "rsa:3072"],
  "rsa-4096": ["-newkey", "rsa:4096"],
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
};

/** Generates a new key and a CSR for `names` with `openssl req -new -newkey … -nodes`. */
export async function makeCsr(opts: CsrOptions): Promise<TestCsr> {
  const dir = opts.dir ?? await sharedTempDir();
  await Deno.mkdir(dir, { recursive: true });
  const stem = `${await Deno.realPath(dir)}/${opts.basename ?? defaultBasename(opts.names)}`;
  const csrFile = `${stem}.csr`;
  const keyFile = `${stem}.key`;

  const dnsNames = opts.names.filter((n) => !isIpLiteral(n));
  const cn = opts.cn ?? (dnsNames[0] && dnsNames[0].length <= 64 ? dnsNames[0] : "");
  const args = ["req", "-new", ...KEY_ARGS[opts.key ?? "ec-p256"], "-nodes", "-keyout", keyFile, "-out", csrFile];
  args.push("-subj", cn === "" ? "/" : `/CN=${cn.replace(/[\\/]/g, (c) => `\\${c}`)}`);
  if (opts.names.length > 0) {
    const san = opts.names.map((n) => (isIpLiteral(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
    args.push("-addext", `subjectAltName=${san}`);
  }
  for (const ext of opts.extraAddext ?? []) args.push("-addext", ext);
  args.push("-batch");
  await runChecked("openssl", args);

  return {
    csrPem: await Deno.readTextFile(csrFile),
    keyPem: await Deno.readTextFile(keyFile),
    csrFile,
    keyFile,
  };
}

function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":");
}

function defaultBasename(names: string[]): string {
  const first = (names[0] ?? "no-names").replace(/^\*\./, "wildcard.").replace(/[^A-Za-z0-9.-]/g, "_");
  return `${first}-${crypto.randomUUID().slice(0, 8)}`;
}

let shared: Promise<string> | undefined;

/** One temp dir per test process for CSRs without an explicit `dir`, removed on exit. */
function sharedTempDir(): Promise<string> {
  shared ??= Deno.makeTempDir({ prefix: "acmems-csr-" }).then((dir) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Best effort: the process is exiting anyway.
      }
    });
    return dir;
  });
  return shared;
}
