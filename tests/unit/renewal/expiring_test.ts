/** The `expiring` notification when several instances (or restarts) share one cache: sent once a day in all. */
import { assert, assertEquals } from "../../support/assert.ts";
import { FakeCa, serverDown } from "../../support/fake_ca.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { localAuth, requestFor } from "../issuance/_request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { isHeld } from "../../../src/storage/mod.ts";

const DAY_MS = 86_400_000;
const request = await requestFor("expiring.example.test", "file");

Deno.test("expiring: two instances on one cache, and a restarted one, notify once a day in all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-expiring-" });
  const fake = new FakeCa();
  let caDown = false;
  const events: string[] = [];
  const storages: FileStorage[] = [];
  const instance = () => {
    const log = memoryLogger();
    const storage = new FileStorage({ name: "file", directory: dir, renewWithinDays: 14, renewActiveDays: 30, log });
    storages.push(storage);
    return new IssuanceService({
      client: () => {
        if (caDown) throw serverDown();
        return fake.asClient();
      },
      directoryUrl: "https://fake.ca/dir",
      solvers: new Map([["http", new Http01Solver(new Http01Responder())]]),
      storages: new Map([["file", storage]]),
      auth: localAuth("file"),
      log,
      expiringDays: 7,
      onEvent: (event) => events.push(event),
    });
  };
  const [a, b] = [instance(), instance()];
  try {
    await a.issue(request, Date.now() + 5000);
    // Three days left, and the CA is down: the renewal cannot happen, the certificate is expiring.
    const key = await a.keyFor(request);
    const claim = await storages[0].claim(key, "test", 1000);
    assert(!isHeld(claim));
    const entry = (await storages[0].get(key))!;
    entry.notBefore = new Date(Date.now() - 87 * DAY_MS).toISOString();
    entry.notAfter = new Date(Date.now() + 3 * DAY_MS).toISOString();
    assert(await storages[0].put(claim, entry));
    await storages[0].release(claim);
    caDown = true;

    await a.sweep();
    await b.sweep();
    assertEquals(events.filter((e) => e === "expiring").length, 1, "one instance sends it");
    const restarted = instance();
    await restarted.sweep();
    await a.sweep();
    assertEquals(events.filter((e) => e === "expiring").length, 1, "not again within the day, even after a restart");
    assert((await storages[0].get(key))?.renewal?.expiringSentAt, "the time sent is kept in the entry");
    await Promise.all([a.drain(), b.drain(), restarted.drain()]);
  } finally {
    for (const s of storages) await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});
