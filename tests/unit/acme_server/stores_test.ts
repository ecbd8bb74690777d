/**
 * The `AcmeFrontStore` contract on its three implementations (memory, file, postgres on a throwaway PostgreSQL):
 * records round-trip whole; a key has one account (a second create with the same key returns the first account);
 * a key change moves the key index and refuses a key another account holds; unknown ids read as null; file ids that
 * are not base64url never become paths.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { startPostgres } from "../../support/postgres.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileAcmeFrontStore } from "../../../src/storage/acme_front/file.ts";
import { MemoryAcmeFrontStore } from "../../../src/storage/acme_front/memory.ts";
import { PostgresAcmeFrontStore } from "../../../src/storage/acme_front/postgres.ts";
import type { AcmeFrontAccount, AcmeFrontStore } from "../../../src/storage/port.ts";

function account(id: string, thumbprint: string): AcmeFrontAccount {
  return {
    id,
    thumbprint,
    jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" },
    block: "hosts",
    eabKid: "kid-1",
    status: "valid",
    contact: ["mailto:a@example.test"],
    createdAt: "2026-12-01T00:00:00.000Z",
  };
}

async function contract(store: AcmeFrontStore): Promise<void> {
  const a = account("acct-a", "print-a");
  assertEquals(await store.createAccount(a), a);
  assertEquals(await store.getAccount("acct-a"), a);
  assertEquals(await store.accountByThumbprint("print-a"), a);
  const twin = await store.createAccount(account("acct-twin", "print-a"));
  assertEquals(twin.id, "acct-a", "one account per key");
  assertEquals(await store.getAccount("acct-twin"), null);

  const b = account("acct-b", "print-b");
  await store.createAccount(b);
  assertEquals(await store.updateAccount({ ...a, thumbprint: "print-b" }, "print-a"), false, "b's key is taken");
  assertEquals(await store.updateAccount({ ...a, thumbprint: "print-c", status: "deactivated" }, "print-a"), true);
  assertEquals((await store.accountByThumbprint("print-c"))?.status, "deactivated");
  assertEquals(await store.accountByThumbprint("print-a"), null, "the old key finds nothing");

  const order = {
    id: "order-1",
    account: "acct-a",
    identifiers: [{ type: "dns", value: "www.example.test" }],
    status: "ready" as const,
    expires: "2026-12-08T00:00:00.000Z",
    createdAt: "2026-12-01T00:00:00.000Z",
  };
  await store.putOrder(order);
  assertEquals(await store.getOrder("order-1"), order);
  await store.putOrder({ ...order, status: "valid", chain: "PEM" });
  assertEquals((await store.getOrder("order-1"))?.chain, "PEM");
  assertEquals(await store.getOrder("nope"), null);

  const cert = {
    certId: "aki.serial",
    account: "acct-a",
    order: "order-1",
    storage: "cache",
    cacheKey: "ab".repeat(32),
    notBefore: "2026-12-01T00:00:00.000Z",
    notAfter: "2027-03-01T00:00:00.000Z",
  };
  await store.putCertificate(cert);
  assertEquals(await store.getCertificate("aki.serial"), cert);
  assertEquals(await store.getCertificate("other.serial"), null);
}

Deno.test("AcmeFrontStore contract: memory", async () => {
  await contract(new MemoryAcmeFrontStore());
});

Deno.test("AcmeFrontStore contract: file (atomic records under acme-front/, no path from a foreign id)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acme-front-store-" });
  try {
    const store = new FileAcmeFrontStore(dir);
    await contract(store);
    assertEquals(await store.getAccount("../../etc/passwd"), null);
    assertEquals(await store.getCertificate("../x.y"), null);
    const files = [...Deno.readDirSync(`${dir}/acme-front/accounts`)].map((e) => e.name).sort();
    assertEquals(files, ["acct-a.json", "acct-b.json"]);
    const mode = Deno.statSync(`${dir}/acme-front/accounts/acct-a.json`).mode! & 0o777;
    assertEquals(mode, 0o600);
    // Another process sharing the directory sees the same accounts.
    assertEquals((await new FileAcmeFrontStore(dir).accountByThumbprint("print-c"))?.id, "acct-a");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AcmeFrontStore contract: postgres (migration 3), seen by a second instance", async () => {
  const pg = await startPostgres();
  const log = memoryLogger("debug");
  const store = new PostgresAcmeFrontStore({ name: "pg", url: pg.url, schema: "acmems", log });
  const other = new PostgresAcmeFrontStore({ name: "pg", url: pg.url, schema: "acmems", log });
  try {
    await contract(store);
    assertEquals((await other.accountByThumbprint("print-c"))?.id, "acct-a");
    assert((await other.getOrder("order-1"))?.status === "valid");
  } finally {
    await store.close();
    await other.close();
    await pg.stop();
  }
});
