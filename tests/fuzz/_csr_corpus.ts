/**
 * CSR inputs for the intake and /sign fuzz targets.
 *
 * Seeds are real PKCS#10 requests (made with @peculiar/x509 from keys generated here, so they can be re-signed).
 * Mutators:
 *  - `mutateDer`: byte-level damage to the whole DER (the self-signature then fails, or the structure does);
 *  - `mutateSigned`: structure-aware edits of the CertificationRequestInfo (tags, lengths, contents, children,
 *    nested DER inside OCTET STRINGs such as the SAN extension, interesting name strings), then re-signed with the
 *    seed's key, so the signature verifies and the edit reaches the structure parser and the issuance rules;
 *  - `mutatePem`: damage to the PEM text (labels, base64, whitespace, extra blocks).
 */
import * as x509 from "@peculiar/x509";
import { concatBytes, mutateBytes, mutateText, type Rng } from "./_fuzz.ts";

/** A DER node: primitive (`content`) or constructed (`children`). Single-byte tags only. */
export interface Tlv {
  tag: number;
  content?: Uint8Array;
  children?: Tlv[];
}

/** Strict DER parse (definite lengths, single-byte tags); throws on anything else. */
export function parseDer(bytes: Uint8Array): Tlv {
  const [node, end] = parseAt(bytes, 0, 0);
  if (end !== bytes.length) throw new Error("trailing bytes");
  return node;
}

function parseAt(bytes: Uint8Array, offset: number, depth: number): [Tlv, number] {
  if (depth > 40) throw new Error("too deep");
  if (offset + 2 > bytes.length) throw new Error("truncated");
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error("multi-byte tag");
  let length = bytes[offset + 1];
  let pos = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 3 || pos + n > bytes.length) throw new Error("bad length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[pos + i];
    pos += n;
  }
  const end = pos + length;
  if (end > bytes.length) throw new Error("truncated content");
  if (tag & 0x20) {
    const children: Tlv[] = [];
    let p = pos;
    while (p < end) {
      const [child, next] = parseAt(bytes, p, depth + 1);
      children.push(child);
      p = next;
    }
    if (p !== end) throw new Error("children overrun");
    return [{ tag, children }, end];
  }
  return [{ tag, content: bytes.slice(pos, end) }, end];
}

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Uint8Array.of(0x80 | out.length, ...out);
}

export function encodeDer(node: Tlv): Uint8Array<ArrayBuffer> {
  const content = node.children ? concatBytes(...node.children.map(encodeDer)) : (node.content ?? new Uint8Array(0));
  return concatBytes(Uint8Array.of(node.tag), encodeLength(content.length), content);
}

/** A seed CSR with the key that signed it. */
export interface SeedCsr {
  label: string;
  der: Uint8Array<ArrayBuffer>;
  pem: string;
  keys: CryptoKeyPair;
  algorithm: EcdsaParams | AlgorithmIdentifier;
  ec: boolean;
}

const EC_ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const RSA_ALG = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};

/** TLS feature status_request (OCSP Must-Staple). */
const MUST_STAPLE = new x509.Extension("1.3.6.1.5.5.7.1.24", false, Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x05));

export async function makeSeeds(): Promise<SeedCsr[]> {
  const ec = await crypto.subtle.generateKey(EC_ALG, false, ["sign", "verify"]) as CryptoKeyPair;
  const rsa = await crypto.subtle.generateKey(RSA_ALG, false, ["sign", "verify"]) as CryptoKeyPair;
  const specs: {
    label: string;
    cn: string[];
    sans: x509.JsonGeneralName[];
    extra?: x509.Extension[];
    rsa?: boolean;
  }[] = [
    { label: "one name", cn: ["www.example.test"], sans: [{ type: "dns", value: "www.example.test" }] },
    {
      label: "three names",
      cn: [],
      sans: ["a.example.test", "b.example.test", "example.test"].map((value) => ({ type: "dns" as const, value })),
    },
    { label: "rsa", cn: ["rsa.example.test"], sans: [{ type: "dns", value: "rsa.example.test" }], rsa: true },
    { label: "wildcard", cn: [], sans: [{ type: "dns", value: "*.example.test" }] },
    { label: "outside", cn: [], sans: [{ type: "dns", value: "www.evil.test" }] },
    {
      label: "ip and email",
      cn: [],
      sans: [{ type: "dns", value: "m.example.test" }, { type: "ip", value: "10.1.2.3" }, {
        type: "email",
        value: "a@example.test",
      }],
    },
    { label: "must-staple", cn: [], sans: [{ type: "dns", value: "s.example.test" }], extra: [MUST_STAPLE] },
    { label: "hmac block", cn: [], sans: [{ type: "dns", value: "h.secure.test" }] },
    { label: "office block", cn: ["www.office.test"], sans: [{ type: "dns", value: "www.office.test" }] },
  ];
  const seeds: SeedCsr[] = [];
  for (const spec of specs) {
    const keys = spec.rsa ? rsa : ec;
    const algorithm = spec.rsa ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : EC_ALG;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: spec.cn.map((cn) => ({ CN: [cn] })) as unknown as x509.JsonName,
      keys,
      signingAlgorithm: algorithm,
      extensions: [new x509.SubjectAlternativeNameExtension(spec.sans), ...(spec.extra ?? [])],
    });
    seeds.push({
      label: spec.label,
      der: new Uint8Array(csr.rawData),
      pem: csr.toString("pem"),
      keys,
      algorithm,
      ec: !spec.rsa,
    });
  }
  return seeds;
}

/** Interesting values for string nodes (names in CN and SAN). */
const NAME_VALUES = [
  "www.example.test",
  "WWW.EXAMPLE.TEST",
  "www.example.test.",
  "evil.test\u0000.example.test",
  "www.example.test\u0000",
  "*.example.test",
  "*.*.example.test",
  "www.*.example.test",
  "*",
  "",
  ".",
  "..example.test",
  "-a.example.test",
  "a-.example.test",
  "xn--.example.test",
  "xn--nxasmq6b.example.test",
  "ab--c.example.test",
  "10.1.2.3",
  "1.2.3.4.example.test",
  "example.123",
  "a".repeat(64) + ".example.test",
  ("a".repeat(63) + ".").repeat(4) + "example.test",
  "www.ex\u00e4mple.test",
  "www.exa\u0301mple.test",
  "www\r\n.example.test",
  "www.example.test evil.test",
  "www%2eexample.test",
  "www.example.test/evil",
  "www.evil.test",
  "example.test",
  "www.office.test",
  "WWW.Office.Test",
  "x.secure.test",
  "office.test",
];

/** Encodes `text` for the string tag it will carry (latin1 for IA5/Printable, UTF-8 otherwise). */
function stringBytes(text: string, tag: number): Uint8Array {
  if (tag === 0x16 || tag === 0x13 || tag === 0x82) return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
  return new TextEncoder().encode(text);
}

const TAGS = [
  0x01,
  0x02,
  0x03,
  0x04,
  0x05,
  0x06,
  0x0c,
  0x13,
  0x16,
  0x1e,
  0x30,
  0x31,
  0x80,
  0x81,
  0x82,
  0x86,
  0x87,
  0xa0,
];

function allNodes(root: Tlv): { node: Tlv; parent: Tlv | null }[] {
  const out: { node: Tlv; parent: Tlv | null }[] = [];
  const walk = (node: Tlv, parent: Tlv | null) => {
    out.push({ node, parent });
    for (const child of node.children ?? []) walk(child, node);
  };
  walk(root, null);
  return out;
}

/** One structural edit somewhere in `root` (in place). Recurses into DER nested in OCTET STRINGs. */
function editTree(root: Tlv, rng: Rng, depth = 0): void {
  const nodes = allNodes(root);
  const { node, parent } = rng.pick(nodes);
  // OCTET STRINGs that hold DER (extension values: SAN, TLS feature, key usage): edit inside them.
  if (node.tag === 0x04 && node.content && depth < 3 && rng.bool(0.6)) {
    try {
      const inner = parseDer(node.content);
      editTree(inner, rng, depth + 1);
      node.content = encodeDer(inner);
      return;
    } catch {
      // not DER: edit it as bytes below
    }
  }
  switch (rng.int(10)) {
    case 0:
    case 1: {
      // A name-ish value in a string node (or any primitive).
      if (node.content) {
        const tag = [0x0c, 0x13, 0x16, 0x82].includes(node.tag) ? node.tag : rng.pick([0x0c, 0x16, 0x82]);
        node.tag = tag;
        node.content = stringBytes(rng.pick(NAME_VALUES), tag);
      }
      break;
    }
    case 2:
      node.tag = rng.pick(TAGS);
      if (node.tag & 0x20 && !node.children) node.children = [];
      if (!(node.tag & 0x20) && node.children) {
        node.content = encodeDer({ tag: 0x30, children: node.children });
        node.children = undefined;
      }
      break;
    case 3:
      if (node.content) node.content = mutateBytes(node.content, rng);
      break;
    case 4:
      if (parent?.children) {
        const i = parent.children.indexOf(node);
        parent.children.splice(i, 0, structuredClone(node));
      }
      break;
    case 5:
      if (parent?.children) parent.children.splice(parent.children.indexOf(node), 1);
      break;
    case 6:
      if (parent?.children && parent.children.length > 1) {
        const a = rng.int(parent.children.length);
        const b = rng.int(parent.children.length);
        [parent.children[a], parent.children[b]] = [parent.children[b], parent.children[a]];
      }
      break;
    case 7:
      if (node.children) {
        node.children.splice(rng.int(node.children.length + 1), 0, {
          tag: rng.pick(TAGS.filter((t) => !(t & 0x20))),
          content: rng.bytes(rng.length(40)),
        });
      }
      break;
    case 8:
      // A DNS name in a GeneralName slot: [2] dNSName, or another GeneralName type with a DNS-looking value.
      node.tag = rng.pick([0x82, 0x81, 0x86, 0x87, 0x88]);
      node.children = undefined;
      node.content = node.tag === 0x87 ? rng.pick([Uint8Array.of(10, 1, 2, 3), rng.bytes(rng.int(20))]) : stringBytes(
        rng.pick(NAME_VALUES),
        0x82,
      );
      break;
    default: {
      // Many copies of one child (name count limits).
      if (parent?.children) {
        const copies = rng.pick([2, 25, 26, 100, 101, 300]);
        for (let i = 0; i < copies; i++) parent.children.push(structuredClone(node));
      }
    }
  }
}

/** DER ECDSA-Sig-Value from WebCrypto's raw r||s. */
function ecdsaDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.slice(i);
    return v[0] & 0x80 ? concatBytes(Uint8Array.of(0), v) : v;
  };
  return encodeDer({
    tag: 0x30,
    children: [{ tag: 0x02, content: int(raw.subarray(0, half)) }, { tag: 0x02, content: int(raw.subarray(half)) }],
  });
}

/** Re-signs an edited CertificationRequestInfo with the seed's key. */
async function resign(seed: SeedCsr, tbs: Uint8Array<ArrayBuffer>, algId: Tlv): Promise<Uint8Array<ArrayBuffer>> {
  const raw = new Uint8Array(await crypto.subtle.sign(seed.algorithm, seed.keys.privateKey, tbs));
  const signature = seed.ec ? ecdsaDer(raw) : raw;
  const content = concatBytes(
    tbs,
    encodeDer(algId),
    encodeDer({ tag: 0x03, content: concatBytes(Uint8Array.of(0), signature) }),
  );
  return concatBytes(Uint8Array.of(0x30), encodeLength(content.length), content);
}

const OID_SAN = [0x55, 0x1d, 0x11];
const OID_CN = [0x55, 0x04, 0x03];

/** The value node following an OID node with `oid` content (the SAN extension's OCTET STRING, a CN's string). */
function valuesAfterOid(root: Tlv, oid: number[]): Tlv[] {
  const found: Tlv[] = [];
  for (const { node } of allNodes(root)) {
    const children = node.children ?? [];
    const i = children.findIndex((c) =>
      c.tag === 0x06 && c.content?.length === oid.length && oid.every((b, j) => c.content![j] === b)
    );
    if (i >= 0 && children.length > i + 1) found.push(children[children.length - 1]);
  }
  return found;
}

/** Edits aimed at what the rules look at: the SAN list and the subject CNs. */
function editNames(info: Tlv, rng: Rng): boolean {
  if (rng.bool(0.3)) {
    const cns = valuesAfterOid(info, OID_CN);
    if (cns.length === 0) return false;
    const cn = rng.pick(cns);
    cn.tag = rng.pick([0x0c, 0x13, 0x16, 0x1e]);
    cn.content = stringBytes(rng.pick(NAME_VALUES), cn.tag);
    return true;
  }
  const sans = valuesAfterOid(info, OID_SAN).filter((n) => n.tag === 0x04 && n.content);
  if (sans.length === 0) return false;
  const san = rng.pick(sans);
  let list: Tlv;
  try {
    list = parseDer(san.content!);
  } catch {
    return false;
  }
  if (!list.children) return false;
  const entries = list.children;
  switch (rng.int(5)) {
    case 0:
      entries.push({ tag: 0x82, content: stringBytes(rng.pick(NAME_VALUES), 0x82) });
      break;
    case 1:
      if (entries.length > 0) entries[rng.int(entries.length)].content = stringBytes(rng.pick(NAME_VALUES), 0x82);
      break;
    case 2:
      if (entries.length > 0) entries.splice(rng.int(entries.length), 1);
      break;
    case 3: {
      const copies = rng.pick([24, 25, 26, 99, 100, 101]);
      for (let i = 0; i < copies; i++) entries.push({ tag: 0x82, content: stringBytes(`n${i}.example.test`, 0x82) });
      break;
    }
    default:
      entries.push(
        rng.pick<Tlv>([
          { tag: 0x87, content: Uint8Array.of(10, 1, 2, 3) },
          { tag: 0x81, content: stringBytes("a@example.test", 0x16) },
          { tag: 0x86, content: stringBytes("https://www.example.test/", 0x16) },
          { tag: 0x88, content: Uint8Array.of(0x2a, 0x03) },
          { tag: 0xa0, children: [{ tag: 0x06, content: Uint8Array.of(0x2a, 0x03) }] },
        ]),
      );
  }
  san.content = encodeDer(list);
  return true;
}

/** Structure-aware edits of the request info, re-signed so the self-signature verifies. */
export async function mutateSigned(seed: SeedCsr, rng: Rng): Promise<Uint8Array<ArrayBuffer>> {
  const root = parseDer(seed.der);
  const [info, algId] = root.children!;
  const edited = structuredClone(info);
  const edits = 1 + rng.int(3);
  for (let i = 0; i < edits; i++) {
    if (rng.bool(0.6) && editNames(edited, rng)) continue;
    editTree(edited, rng);
  }
  const tbs = encodeDer(edited);
  const signed = await resign(seed, tbs, algId);
  return signed;
}

/** Only the edits aimed at names (SAN entries, CNs), re-signed: mostly well-formed CSRs with odd names. */
export async function mutateSignedNames(seed: SeedCsr, rng: Rng): Promise<Uint8Array<ArrayBuffer>> {
  const root = parseDer(seed.der);
  const [info, algId] = root.children!;
  const edited = structuredClone(info);
  const edits = 1 + rng.int(2);
  for (let i = 0; i < edits; i++) editNames(edited, rng);
  return await resign(seed, encodeDer(edited), algId);
}

/** Byte-level damage to the whole DER (signature no longer matches, or the structure breaks). */
export function mutateDer(seed: SeedCsr, rng: Rng, donor?: SeedCsr): Uint8Array<ArrayBuffer> {
  return mutateBytes(seed.der, rng, donor?.der);
}

export function derToPem(der: Uint8Array, label = "CERTIFICATE REQUEST", width = 64): string {
  let binary = "";
  for (let i = 0; i < der.length; i += 8192) binary += String.fromCharCode(...der.subarray(i, i + 8192));
  const b64 = btoa(binary);
  const lines = b64.match(new RegExp(`.{1,${Math.max(1, width)}}`, "g")) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const PEM_TOKENS = [
  "-----BEGIN CERTIFICATE REQUEST-----\n",
  "-----END CERTIFICATE REQUEST-----\n",
  "-----BEGIN NEW CERTIFICATE REQUEST-----\n",
  "-----BEGIN PRIVATE KEY-----\n",
  "-----BEGIN CERTIFICATE-----\n",
  "-----",
  "=",
  "==",
  "\r\n",
  "\n",
  " ",
  "\t",
  "\0",
  "MII",
  "%",
  "\u00ff",
  "\uFEFF",
];

/** Damage to the PEM text. */
export function mutatePem(pem: string, rng: Rng): string {
  return mutateText(pem, rng, PEM_TOKENS);
}

/** A body for the intake: one of the mutators, or random bytes. */
export async function csrBody(seeds: SeedCsr[], rng: Rng): Promise<{ body: Uint8Array | string; kind: string }> {
  const seed = rng.pick(seeds);
  switch (rng.int(6)) {
    case 0:
      return {
        body: derToPem(mutateDer(seed, rng, rng.pick(seeds)), "CERTIFICATE REQUEST", rng.pick([64, 76, 1, 1000])),
        kind: "der",
      };
    case 1:
    case 2:
      return { body: derToPem(await mutateSigned(seed, rng)), kind: "signed" };
    case 3:
      return { body: mutatePem(seed.pem, rng), kind: "pem" };
    case 4:
      return { body: rng.bytes(rng.length(5000)), kind: "random" };
    default:
      return rng.bool(0.5) ? { body: seed.pem, kind: "seed" } : { body: mutateDer(seed, rng), kind: "raw-der" };
  }
}
