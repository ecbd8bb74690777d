/**
 * Attack: forging or transplanting the HMAC that admits a request (landscape §D2.4).
 *
 * - A digest not already verified for these exact bytes is decided by `crypto.subtle.verify("HMAC", …)` on the
 *   decoded digest (a constant-time check in the platform), never an early-exit comparison: a digest wrong in its
 *   first byte and one wrong in its last byte take exactly the same path (same number of verify calls with the same
 *   shape). This tests the code path, not timing.
 * - The other path is src/policy/hmac.ts's memo of successes: a (digest, body) pair that verified is admitted again
 *   without a verify call. A memoised digest for CSR A never admits CSR B, a wrong digest never hits the memo (it
 *   goes to verify), and the memo is per block, per key and algorithm.
 * - An HMAC is bound to the exact body: it never admits another CSR, the same CSR re-wrapped, with a byte appended,
 *   or the names of another block with another key.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { parseAuthenticationHeader } from "../../src/policy/authentication_header.ts";
import { HMAC_MEMO_ENTRIES, verifyBlockHmac } from "../../src/policy/hmac.ts";
import type { AuthBlock } from "../../src/config/types.ts";
import { answer, ATTACK_HMAC_KEY, attackConfig, hmacHex, peer, postSign, signStack } from "./_sign_stack.ts";

interface VerifyCall {
  algorithm: string;
  keyAlgorithm: string;
  signatureLength: number;
  dataLength: number;
}

/** Records every crypto.subtle.verify call made while `fn` runs (restored afterwards). */
async function recordVerify<T>(fn: () => Promise<T>): Promise<{ value: T; calls: VerifyCall[] }> {
  const subtle = crypto.subtle as SubtleCrypto & { verify: SubtleCrypto["verify"] };
  const original = subtle.verify;
  const calls: VerifyCall[] = [];
  const spy: SubtleCrypto["verify"] = function (algorithm, key, signature, data) {
    const view = (b: BufferSource) => (ArrayBuffer.isView(b) ? b.byteLength : (b as ArrayBuffer).byteLength);
    calls.push({
      algorithm: typeof algorithm === "string" ? algorithm : algorithm.name,
      keyAlgorithm: JSON.stringify(key.algorithm),
      signatureLength: view(signature),
      dataLength: view(data),
    });
    return original.call(subtle, algorithm, key, signature, data);
  };
  Object.defineProperty(subtle, "verify", { value: spy, configurable: true, writable: true });
  try {
    return { value: await fn(), calls };
  } finally {
    delete (subtle as { verify?: unknown }).verify;
    if (subtle.verify !== original) Object.defineProperty(subtle, "verify", { value: original, configurable: true });
  }
}

function flipHex(hex: string, byteIndex: number): string {
  const i = byteIndex < 0 ? hex.length / 2 + byteIndex : byteIndex;
  const flipped = (parseInt(hex.slice(2 * i, 2 * i + 2), 16) ^ 0x01).toString(16).padStart(2, "0");
  return hex.slice(0, 2 * i) + flipped + hex.slice(2 * i + 2);
}

const secureA = await makeCsr({ names: ["a.secure.test"] });
const secureB = await makeCsr({ names: ["b.secure.test"] });
const header = (hex: string, name = "sha256") => ({ authentication: `hmac name=${name}, hash=${hex}` });

Deno.test("attack: HMAC digests wrong in the first or the last byte take the same crypto.subtle.verify path", async () => {
  const stack = signStack();
  const good = await hmacHex(secureA.csrPem);
  const run = (hex: string) =>
    recordVerify(async () => await answer(await stack.handler(postSign(secureA.csrPem, header(hex)), peer())));

  const first = await run(flipHex(good, 0));
  const last = await run(flipHex(good, -1));
  const middle = await run(flipHex(good, 16));
  const right = await run(good);
  assertEquals([first.value.status, last.value.status, middle.value.status], [403, 403, 403]);
  assertEquals(right.value.status, 200, right.value.body);
  // Every HMAC decision was made by crypto.subtle.verify, once, with the same shape: no early exit anywhere.
  const hmacCalls = (c: VerifyCall[]) => c.filter((x) => x.algorithm.toUpperCase() === "HMAC");
  assertEquals(hmacCalls(first.calls).length, 1, JSON.stringify(first.calls));
  assertEquals(hmacCalls(first.calls), hmacCalls(last.calls), "first-byte vs last-byte difference");
  assertEquals(hmacCalls(first.calls), hmacCalls(middle.calls), "first-byte vs middle-byte difference");
  assertEquals(hmacCalls(first.calls), hmacCalls(right.calls), "a wrong digest vs the right one");
  assertEquals(hmacCalls(first.calls)[0].signatureLength, 32);
  assertEquals(hmacCalls(first.calls)[0].dataLength, new TextEncoder().encode(secureA.csrPem).length);
});

Deno.test("attack: verifyBlockHmac decides through crypto.subtle.verify for every digest of the right length", async () => {
  const body = new TextEncoder().encode(secureA.csrPem);
  for (
    const [type, hash, bytes] of [["sha256", "SHA-256", 32], ["sha384", "SHA-384", 48], [
      "sha512",
      "SHA-512",
      64,
    ]] as const
  ) {
    const block = { name: "h", hmac: { type, key: ATTACK_HMAC_KEY } } as unknown as AuthBlock;
    const good = await hmacHex(body, ATTACK_HMAC_KEY, hash);
    const variants = [good, flipHex(good, 0), flipHex(good, -1), "00".repeat(bytes), "ff".repeat(bytes)];
    const shapes: string[] = [];
    for (const hex of variants) {
      const parsed = parseAuthenticationHeader(`hmac name=${type}, hash=${hex}`);
      assertEquals(parsed.kind, "hmac");
      const { value, calls } = await recordVerify(() => verifyBlockHmac(block, parsed, body));
      assertEquals(value, hex === good, `${type} ${hex.slice(0, 8)}…`);
      assertEquals(calls.length, 1, `${type}: one verify call per decision`);
      shapes.push(JSON.stringify(calls));
    }
    assert(shapes.every((s) => s === shapes[0]), `${type}: every digest took the same path: ${shapes.join(" | ")}`);
  }
});

Deno.test("attack: an HMAC for one CSR never authorizes another body", async () => {
  const stack = signStack();
  const macA = await hmacHex(secureA.csrPem);
  const derA = Uint8Array.from(
    atob(secureA.csrPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")),
    (c) => c.charCodeAt(0),
  );
  const rewrapped = secureA.csrPem.replace(/\n(?!-----)/g, "\r\n");
  const bodies: [string, string | Uint8Array][] = [
    ["another CSR", secureB.csrPem],
    ["the same CSR with a newline appended", secureA.csrPem + "\n"],
    ["the same CSR with text before it", "# host a\n" + secureA.csrPem],
    ["the same CSR with CRLF line ends (same DER)", rewrapped],
    ["the same CSR with its trailing newline removed", secureA.csrPem.trimEnd()],
    ["both CSRs in one body", secureA.csrPem + secureB.csrPem],
  ];
  for (const [what, body] of bodies) {
    const { status, body: reason } = await answer(await stack.handler(postSign(body, header(macA)), peer()));
    assert(status === 403 || status === 415, `${what}: ${status} ${reason}`);
  }
  // The MAC of the DER (not of the body) is not the MAC of the body.
  const macDer = await hmacHex(derA);
  assertEquals((await answer(await stack.handler(postSign(secureA.csrPem, header(macDer)), peer()))).status, 403);
  // The right MAC under another algorithm name, or truncated, or doubled.
  const macA384 = await hmacHex(secureA.csrPem, ATTACK_HMAC_KEY, "SHA-384");
  for (const h of [header(macA384, "sha384"), header(macA.slice(0, 32)), header(macA + macA), header(macA, "sha512")]) {
    const { status, body } = await answer(await stack.handler(postSign(secureA.csrPem, h), peer()));
    assertEquals(status, 403, `${JSON.stringify(h)}: ${body}`);
  }
  // Two Authentication header lines (one right, one wrong) are refused, not "any of them".
  const two = new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body: secureA.csrPem,
    headers: [
      ["content-length", String(new TextEncoder().encode(secureA.csrPem).length)],
      ["authentication", `hmac name=sha256, hash=${"00".repeat(32)}`],
      ["authentication", `hmac name=sha256, hash=${macA}`],
    ],
  });
  assertEquals((await answer(await stack.handler(two, peer()))).status, 403, "two Authentication lines");
  // `Authorization` is not `Authentication`.
  const wrongName = await answer(
    await stack.handler(postSign(secureA.csrPem, { authorization: `hmac name=sha256, hash=${macA}` }), peer()),
  );
  assertEquals(wrongName.status, 403);
  assertEquals(stack.orders, [], "no order was placed");
  // Control: the right MAC of the exact body is accepted.
  const ok = await answer(await stack.handler(postSign(secureA.csrPem, header(macA)), peer()));
  assertEquals(ok.status, 200, ok.body);
});

Deno.test("attack: an HMAC under one block's key never admits names of another HMAC block", async () => {
  const stack = signStack({
    config: attackConfig({
      auth: {
        one: { hmac_type: "sha256", hmac_key: "key-of-block-one-0123456789", domain: "*.one.test" },
        two: { hmac_type: "sha256", hmac_key: "key-of-block-two-0123456789", domain: "*.two.test" },
      },
    }),
  });
  const two = await makeCsr({ names: ["www.two.test"] });
  const both = await makeCsr({ names: ["www.one.test", "www.two.test"] });
  const withKeyOne = async (csrPem: string) =>
    await answer(
      await stack.handler(postSign(csrPem, header(await hmacHex(csrPem, "key-of-block-one-0123456789"))), peer()),
    );
  assertEquals((await withKeyOne(two.csrPem)).status, 403, "key one for a name of block two");
  assertEquals((await withKeyOne(both.csrPem)).status, 403, "key one for names of both blocks");
  assertEquals(stack.orders, []);
  const ok = await answer(
    await stack.handler(
      postSign(two.csrPem, header(await hmacHex(two.csrPem, "key-of-block-two-0123456789"))),
      peer("203.0.113.7"),
    ),
  );
  assertEquals(ok.status, 200, `control: key two for block two: ${ok.body}`);
});

/** A block with only what verifyBlockHmac reads. */
function hmacBlock(key = ATTACK_HMAC_KEY, type: "sha256" | "sha384" = "sha256"): AuthBlock {
  return { name: "h", hmac: { type, key } } as unknown as AuthBlock;
}

/** verifyBlockHmac on `body` with a sha256 header carrying `hex`: its answer and its HMAC verify calls. */
async function decide(block: AuthBlock, hex: string, body: Uint8Array, type = "sha256") {
  const { value, calls } = await recordVerify(() =>
    verifyBlockHmac(block, parseAuthenticationHeader(`hmac name=${type}, hash=${hex}`), body)
  );
  return { value, verifies: calls.filter((c) => c.algorithm.toUpperCase() === "HMAC").length };
}

Deno.test("attack: the memo of good digests admits only the same digest with the same bytes", async () => {
  const block = hmacBlock();
  const bodyA = new TextEncoder().encode(secureA.csrPem);
  const bodyB = new TextEncoder().encode(secureB.csrPem);
  const macA = await hmacHex(bodyA);
  const macB = await hmacHex(bodyB);
  // First decision: verify. The repeat: the memo (no verify call), same answer.
  assertEquals(await decide(block, macA, bodyA), { value: true, verifies: 1 }, "A, first time");
  assertEquals(await decide(block, macA, bodyA), { value: true, verifies: 0 }, "A again: from the memo");
  assertEquals(await decide(block, macA, bodyA.slice()), { value: true, verifies: 0 }, "A's bytes in a new buffer");
  // A's memoised digest never admits B, nor A's bytes changed in place after the fact, nor a byte appended.
  assertEquals(await decide(block, macA, bodyB), { value: false, verifies: 1 }, "A's digest with B's body");
  const altered = bodyA.slice();
  altered[altered.length - 2] ^= 0x01;
  assertEquals(await decide(block, macA, altered), { value: false, verifies: 1 }, "A's digest, one byte changed");
  const longer = new Uint8Array([...bodyA, 0x0a]);
  assertEquals(await decide(block, macA, longer), { value: false, verifies: 1 }, "A's digest, a byte appended");
  // Wrong digests for A never hit the memo, however close to the memoised one, and are never remembered.
  for (const wrong of [flipHex(macA, 0), flipHex(macA, -1), macB]) {
    assertEquals(await decide(block, wrong, bodyA), { value: false, verifies: 1 }, `wrong ${wrong.slice(0, 8)}…`);
    assertEquals(await decide(block, wrong, bodyA), { value: false, verifies: 1 }, `wrong again ${wrong.slice(0, 8)}…`);
  }
  // The memo kept A's bytes as they were: changing the caller's buffer later changes nothing.
  const mine = bodyB.slice();
  assertEquals(await decide(block, macB, mine), { value: true, verifies: 1 }, "B, first time");
  mine.set(bodyA.subarray(0, Math.min(bodyA.length, mine.length)));
  assertEquals((await decide(block, macB, mine)).value, false, "B's digest after the buffer was overwritten");
  assertEquals(await decide(block, macB, bodyB), { value: true, verifies: 0 }, "B from the memo");
});

Deno.test("attack: the memo is per block, per key and per algorithm", async () => {
  const body = new TextEncoder().encode(secureA.csrPem);
  const mac = await hmacHex(body);
  const one = hmacBlock();
  assertEquals(await decide(one, mac, body), { value: true, verifies: 1 });
  // Another block with another key: its own decision, by verify.
  const other = hmacBlock("another-key-0123456789");
  assertEquals(await decide(other, mac, body), { value: false, verifies: 1 }, "another block, another key");
  // The same block object with its key changed: the old memo is gone.
  const mutable = hmacBlock();
  assertEquals(await decide(mutable, mac, body), { value: true, verifies: 1 });
  (mutable as { hmac: { type: string; key: string } }).hmac = { type: "sha256", key: "rotated-key-0123456789" };
  assertEquals(await decide(mutable, mac, body), { value: false, verifies: 1 }, "after the key changed");
  (mutable as { hmac: { type: string; key: string } }).hmac = { type: "sha256", key: ATTACK_HMAC_KEY };
  assertEquals(await decide(mutable, mac, body), { value: true, verifies: 1 }, "the key back: verified afresh");
  // Another algorithm on the same block: a digest of another length is refused before verify and memo alike.
  const mac384 = await hmacHex(body, ATTACK_HMAC_KEY, "SHA-384");
  assertEquals(await decide(one, mac384, body, "sha384"), { value: false, verifies: 0 }, "sha384 on a sha256 block");
  const block384 = hmacBlock(ATTACK_HMAC_KEY, "sha384");
  assertEquals(await decide(block384, mac384, body, "sha384"), { value: true, verifies: 1 });
  assertEquals(await decide(block384, mac384, body, "sha384"), { value: true, verifies: 0 });
});

Deno.test("attack: the memo is bounded, and a forgotten digest is verified again", async () => {
  const block = hmacBlock();
  const first = new TextEncoder().encode("body 0");
  const firstMac = await hmacHex(first);
  assertEquals(await decide(block, firstMac, first), { value: true, verifies: 1 });
  for (let i = 1; i < HMAC_MEMO_ENTRIES; i++) {
    const body = new TextEncoder().encode(`body ${i}`);
    assertEquals(
      await verifyBlockHmac(block, parseAuthenticationHeader(`hmac name=sha256, hash=${await hmacHex(body)}`), body),
      true,
    );
  }
  assertEquals(await decide(block, firstMac, first), { value: true, verifies: 0 }, "still remembered at the bound");
  const extra = new TextEncoder().encode("one more");
  assertEquals(await decide(block, await hmacHex(extra), extra), { value: true, verifies: 1 }, "beyond the bound");
  assertEquals(await decide(block, firstMac, first), { value: true, verifies: 1 }, "forgotten: verified again");
});

Deno.test("attack: over /sign, a repeated admitted request is decided by the memo and a different CSR is not", async () => {
  const stack = signStack();
  const macA = await hmacHex(secureA.csrPem);
  const run = (body: string, hex: string) =>
    recordVerify(async () => await answer(await stack.handler(postSign(body, header(hex)), peer())));
  const hmacCalls = (c: VerifyCall[]) => c.filter((x) => x.algorithm.toUpperCase() === "HMAC").length;
  const first = await run(secureA.csrPem, macA);
  assertEquals([first.value.status, hmacCalls(first.calls)], [200, 1], first.value.body);
  const again = await run(secureA.csrPem, macA);
  assertEquals([again.value.status, hmacCalls(again.calls)], [200, 0], again.value.body);
  const other = await run(secureB.csrPem, macA);
  assertEquals([other.value.status, hmacCalls(other.calls)], [403, 1], other.value.body);
});
