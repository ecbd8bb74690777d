/** Whether the current config admits a stored entry for background renewal (src/renewal/admission.ts). */
import type { AuthBlock } from "../../../src/config/types.ts";
import { type AdmissionInput, admitStoredEntry } from "../../../src/renewal/admission.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { parseIpNetwork } from "../../../src/lib/ip.ts";

function block(name: string, domains: string[], more: Partial<AuthBlock> = {}): AuthBlock {
  return {
    name,
    ips: [],
    domains,
    all: false,
    verification: "http",
    storage: "file",
    source: { file: "acmems.ini", line: 1 },
    ...more,
  };
}

const BLOCKS = [
  block("hmac", ["*.prod.example.org"], { hmac: { type: "sha256", key: "k" }, verification: "dns" }),
  block("local", ["*.example.org", "example.org"]),
  block("cold", ["*.example.org"], { storage: "archive" }),
];
const entry = (names: unknown[], fields: Partial<AdmissionInput> = {}): AdmissionInput =>
  ({ names, verification: "http", ...fields }) as AdmissionInput;
const admitted = (e: AdmissionInput, storage = "file") => {
  const result = admitStoredEntry(BLOCKS, e, storage);
  return result.ok ? result.block.name : `refused: ${result.reason}`;
};

Deno.test("admission: an entry's recorded block must still exist and admit its names, verification, storage", () => {
  assertEquals(admitted(entry(["www.example.org", "example.org"], { block: "local" })), "local");
  assertEquals(admitted(entry(["db.prod.example.org"], { block: "hmac", verification: "dns" })), "hmac");
  assertEquals(admitted(entry(["www.example.org"], { block: "cold" }), "archive"), "cold");
  const refusals: [AdmissionInput, string, string][] = [
    [entry(["www.example.org"], { block: "gone" }), "file", `auth block "gone" that admitted www.example.org is no`],
    [entry(["www.example.net"], { block: "local" }), "file", `auth block "local" does not admit www.example.net`],
    [entry(["www.example.org", "evil.test"], { block: "local" }), "file", "does not admit evil.test"],
    [entry(["www.example.org"], { block: "local", verification: "dns" }), "file", `uses verification "http", not`],
    [entry(["www.example.org"], { block: "local" }), "archive", `uses storage "file", not "archive"`],
    // Another block admitting the same names does not stand in for a recorded block that refuses.
    [entry(["www.example.org"], { block: "cold" }), "file", `auth block "cold" uses storage "archive"`],
  ];
  for (const [e, storage, reason] of refusals) {
    const result = admitted(e, storage);
    assert(result.startsWith("refused: ") && result.includes(reason), `${JSON.stringify(e)}: ${result}`);
  }
});

Deno.test("admission: an entry without a block is admitted by the first block that admits all of it", () => {
  assertEquals(admitted(entry(["www.example.org"])), "local");
  assertEquals(admitted(entry(["www.example.org"]), "archive"), "cold");
  assertEquals(admitted(entry(["db.prod.example.org"], { verification: "dns" })), "hmac");
  const result = admitted(entry(["www.example.org", "www.example.net"]));
  assert(result.includes("No auth block admits www.example.org, www.example.net"), result);
  assert(admitted(entry(["www.example.org"]), "none").startsWith("refused: "));
});

Deno.test("admission: names that /sign would not have stored are refused before any glob sees them", () => {
  const odd: unknown[][] = [
    [],
    ["WWW.example.org"], // /sign stores names lower-case
    ["\u212Aey.example.org"], // KELVIN SIGN: lower-cases to k
    ["www.example.org."],
    [42],
    ["*.*.example.org"],
  ];
  for (const names of odd) {
    const result = admitted(entry(names, { block: "local" }));
    assert(result.startsWith("refused: "), `${JSON.stringify(names)}: ${result}`);
  }
  const junk = admitStoredEntry(BLOCKS, { names: "www.example.org" } as unknown as AdmissionInput, "file");
  assertEquals(junk.ok, false);
});

Deno.test("admission: IP address names are re-admitted by the block's ip-identifiers, never by its globs", () => {
  const v4 = parseIpNetwork("198.51.100.0/24");
  const v6 = parseIpNetwork("2001:db8::/64");
  if ("error" in v4 || "error" in v6) throw new Error("test networks");
  const blocks = [
    block("everything", ["*"]),
    block("hosts", ["*.example.org"], { ipIdentifiers: [v4, v6] }),
  ];
  const decide = (names: unknown[], recorded?: string) => {
    const result = admitStoredEntry(blocks, entry(names, recorded ? { block: recorded } : {}), "file");
    return result.ok ? result.block.name : `refused: ${result.reason}`;
  };
  assertEquals(decide(["www.example.org", "198.51.100.7", "2001:db8::7"], "hosts"), "hosts");
  assertEquals(decide(["198.51.100.7"]), "hosts", "an entry without a block: the glob * does not admit an IP");
  assertEquals(
    decide(["198.51.101.7"], "hosts"),
    `refused: auth block "hosts" does not admit 198.51.101.7 (its ip-identifiers lines)`,
  );
  assertEquals(
    decide(["198.51.100.7"], "everything"),
    `refused: auth block "everything" does not admit 198.51.100.7 (its ip-identifiers lines)`,
  );
  assert(decide(["2001:DB8::7"], "hosts").startsWith("refused: The entry's names"), "not as /sign stores them");
});
