import { assertEquals, assertThrows } from "../../support/assert.ts";
import { children, decodeOid, encodeOid, encodeSequence, readNode, readOnly, TAG } from "../../../src/acme/der.ts";
import { b64url, fromB64url, fromBase64Any, fromHex, toBase64Std, toHex, utf8 } from "../../../src/acme/encoding.ts";
import { decodePem, decodePemBlocks, encodePem, splitPemChain } from "../../../src/acme/pem.ts";

Deno.test("base64url: RFC 4648 vectors without padding, round trips, bad input named", () => {
  const vectors: [string, string][] = [["", ""], ["f", "Zg"], ["fo", "Zm8"], ["foo", "Zm9v"], ["foob", "Zm9vYg"]];
  for (const [plain, encoded] of vectors) {
    assertEquals(b64url(plain), encoded);
    assertEquals(new TextDecoder().decode(fromB64url(encoded)), plain);
  }
  const bytes = new Uint8Array([0xfb, 0xff, 0xfe, 0x00]);
  assertEquals([b64url(bytes), toBase64Std(bytes)], ["-__-AA", "+//+AA=="]);
  assertEquals(fromB64url("-__-AA=="), bytes);
  assertEquals(fromB64url(b64url(new Uint8Array(100_000).fill(7))).length, 100_000);
  assertThrows(() => fromB64url("a+b"), /Invalid base64url string "a\+b"/);
  assertThrows(() => fromB64url("abcde"), /Invalid base64url/);
  assertEquals(toHex(fromHex("00:87:65:43:21")), "0087654321");
  assertThrows(() => fromHex("abc"), /Invalid hex string "abc"/);
  assertEquals(utf8("é").length, 2);
});

Deno.test("fromBase64Any: standard and URL-safe alphabets, padding optional, the same bytes", () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xfe, 0x00]);
  for (const text of ["+//+AA==", "+//+AA", "-__-AA", "-__-AA=="]) assertEquals(fromBase64Any(text), bytes, text);
  assertEquals(fromBase64Any(""), new Uint8Array());
  for (const bad of ["abcde", "+//+AA=", "a b", "AA===", "AA=A", "ab!c"]) {
    assertThrows(() => fromBase64Any(bad), /Invalid base64 string/);
  }
});

Deno.test("DER: OIDs, nested sequences, malformed input", () => {
  for (const oid of ["1.2.840.113549.1.1.1", "1.2.840.10045.3.1.7", "2.5.29.35", "1.3.132.0.34", "2.999.3"]) {
    const der = encodeOid(oid);
    assertEquals(decodeOid(readOnly(der, TAG.OID).content), oid);
  }
  const seq = encodeSequence(encodeOid("2.5.29.35"), encodeSequence(new Uint8Array(200)) /* long-form length */);
  const [first, second] = children(readOnly(seq, TAG.SEQUENCE));
  assertEquals([first.tag, second.tag], [TAG.OID, TAG.SEQUENCE]);
  assertThrows(() => readNode(new Uint8Array([0x30])), /Truncated DER at offset 0/);
  assertThrows(() => readNode(new Uint8Array([0x30, 0x80, 0, 0])), /Indefinite DER length/);
  assertThrows(() => readNode(new Uint8Array([0x04, 0x05, 1])), /claims 5 bytes past the end/);
  assertThrows(() => readOnly(new Uint8Array([0x05, 0x00, 0x00]), TAG.NULL), /Trailing bytes/);
  assertThrows(() => readOnly(new Uint8Array([0x05, 0x00]), TAG.SEQUENCE), /Expected DER tag 0x30, found 0x5/);
});

Deno.test("PEM: encode/decode, chains, mismatched labels", () => {
  const der = new Uint8Array(100).map((_, i) => i);
  const pem = encodePem("CERTIFICATE", der);
  assertEquals(pem.split("\n")[1].length, 64);
  assertEquals(decodePem(`junk\n${pem}junk`, ["CERTIFICATE"]).der, der);
  const chain = pem + "\n" + encodePem("CERTIFICATE", der.subarray(0, 10)) + encodePem("PRIVATE KEY", der);
  assertEquals(splitPemChain(chain).length, 2);
  assertEquals(decodePemBlocks(chain).map((b) => b.label), ["CERTIFICATE", "CERTIFICATE", "PRIVATE KEY"]);
  assertThrows(
    () => decodePemBlocks("-----BEGIN CERTIFICATE-----\nAA==\n-----END PRIVATE KEY-----"),
    /"BEGIN CERTIFICATE" ends with "END PRIVATE KEY"/,
  );
  assertThrows(() => decodePem(pem, ["CERTIFICATE REQUEST"]), /No PEM block labelled "CERTIFICATE REQUEST"/);
});
