/**
 * Property tests: random bytes and mutated valid configs never make the config layer throw; they only produce
 * diagnostics. Seeded so a failure can be replayed (the seed is in the failure message).
 */
import { assert } from "../../support/assert.ts";
import { load } from "./helpers.ts";

const EXAMPLE = await Deno.readTextFile(new URL("../../../configs/acmems.example.ini", import.meta.url));
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);

/** mulberry32: small, fast, good enough to drive mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "[",
  "]",
  "=",
  '"',
  "#",
  ";",
  "\n",
  "\r\n",
  " ",
  ":",
  "%",
  "/",
  "*",
  "?",
  "\0",
  "\uFEFF",
  "ü",
  "[auth",
  "type",
];

function mutate(text: string, random: () => number): string {
  let out = text;
  const steps = 1 + Math.floor(random() * 6);
  for (let i = 0; i < steps; i++) {
    const at = Math.floor(random() * (out.length + 1));
    switch (Math.floor(random() * 5)) {
      case 0: // delete a span
        out = out.slice(0, at) + out.slice(at + Math.floor(random() * 20));
        break;
      case 1: // insert a token
        out = out.slice(0, at) + TOKENS[Math.floor(random() * TOKENS.length)] + out.slice(at);
        break;
      case 2: { // duplicate a line
        const lines = out.split("\n");
        const line = Math.floor(random() * lines.length);
        lines.splice(line, 0, lines[line]);
        out = lines.join("\n");
        break;
      }
      case 3: // swap two lines
      {
        const lines = out.split("\n");
        const x = Math.floor(random() * lines.length);
        const y = Math.floor(random() * lines.length);
        [lines[x], lines[y]] = [lines[y], lines[x]];
        out = lines.join("\n");
        break;
      }
      default: // random character
        out = out.slice(0, at) + String.fromCharCode(Math.floor(random() * 0x2ff)) + out.slice(at + 1);
    }
  }
  return out;
}

function checkNeverThrows(text: string, label: string): void {
  let result;
  try {
    result = load(text);
  } catch (error) {
    throw new Error(`${label} (FUZZ_SEED=${SEED}) threw: ${error instanceof Error ? error.stack : error}\n${text}`);
  }
  assert(typeof result.ok === "boolean");
  assert(result.ok === (result.errors.length === 0), `${label}: ok disagrees with errors (FUZZ_SEED=${SEED})`);
  for (const d of [...result.errors, ...result.warnings]) {
    assert(typeof d.message === "string" && d.message.length > 0, `${label}: empty message (FUZZ_SEED=${SEED})`);
    assert(Number.isInteger(d.line) && d.line >= 0, `${label}: bad line (FUZZ_SEED=${SEED})`);
  }
}

Deno.test(`config fuzz: 1,000 random byte strings give only config errors (seed ${SEED})`, () => {
  const random = prng(SEED);
  for (let i = 0; i < 1000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 400));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    checkNeverThrows(new TextDecoder().decode(bytes), `random bytes #${i}`);
  }
});

Deno.test(`config fuzz: 1,500 mutations of the example config give only config errors (seed ${SEED})`, () => {
  const random = prng(SEED + 1);
  let invalid = 0;
  for (let i = 0; i < 1500; i++) {
    const text = mutate(EXAMPLE, random);
    checkNeverThrows(text, `mutation #${i}`);
    if (!load(text).ok) invalid++;
  }
  // The mutations must actually exercise the error paths, not just comments.
  assert(invalid > 300, `only ${invalid} of 1500 mutations were invalid`);
});
