/**
 * The issuer under a shared storage's claims, against the fake CA: resuming the order an earlier holder recorded
 * (`claim.orderUrl`), recording new orders (`noteOrder`, with the fault points around it), and stopping before the
 * next CA call when the claim's lease ends.
 */
import { type AcmeClient, type AcmeOrder, AcmeProblem } from "../../../src/acme/mod.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import {
  type FaultPoint,
  type IssuanceFaults,
  IssuanceService,
  type IssueRequest,
} from "../../../src/issuance/service.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { type Claim, isHeld, type Storage } from "../../../src/storage/mod.ts";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { requestFor } from "./_request.ts";
import { FakeCa } from "../../support/fake_ca.ts";

const NAME = "resume.example.test";

interface Harness {
  issuer: IssuanceService;
  fake: FakeCa;
  request: IssueRequest;
  log: ReturnType<typeof memoryLogger>;
  /** Order URLs the issuer recorded with noteOrder. */
  noted: (string | null)[];
  downloads: string[];
  /** The next claim carries this order URL (an earlier holder's), once. */
  inherit(orderUrl: string): void;
  /** An order placed "by an earlier holder", driven to `status`. */
  placeEarlier(status: "pending" | "valid" | "invalid"): Promise<AcmeOrder>;
}

interface Tweaks {
  faults?: IssuanceFaults;
  /** noteOrder answers false (fenced out) this many times first. */
  fenceNotes?: number;
  /** The first claim's lease: its deadline, and extends that fail. */
  shortLeaseMs?: number;
  finalizeDelayMs?: number;
  /** The first claim is held by "another instance", released at once (this request waits for it). */
  heldFirst?: boolean;
}

async function withIssuer(tweaks: Tweaks, fn: (h: Harness) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-resume-" });
  const log = memoryLogger();
  const file = new FileStorage({ name: "shared", directory: dir, renewWithinDays: 14, renewActiveDays: 30, log });
  const fake = new FakeCa({ finalizeDelayMs: tweaks.finalizeDelayMs });
  const known = new Set<string>();
  const noted: (string | null)[] = [];
  const downloads: string[] = [];
  let inherited: string | undefined;
  let fenceNotes = tweaks.fenceNotes ?? 0;
  let shortLease = tweaks.shortLeaseMs;
  let heldFirst = tweaks.heldFirst ?? false;

  // A storage with leases on top of the file storage: claims may carry an inherited order URL.
  const storage = new Proxy(file, {
    get(target, prop) {
      if (prop === "claim") {
        return async (key: string, owner: string, leaseMs: number) => {
          if (heldFirst) {
            heldFirst = false;
            return { held: true, heldBy: "instance b" };
          }
          const claim = await target.claim(key, owner, leaseMs);
          if (isHeld(claim)) return claim;
          if (inherited) claim.orderUrl = inherited;
          inherited = undefined;
          if (shortLease !== undefined) {
            claim.deadline = performance.now() + shortLease;
            shortLease = undefined;
          }
          return claim;
        };
      }
      if (prop === "waitForRelease") return () => Promise.resolve();
      if (prop === "extend") {
        return (claim: Claim) => Promise.resolve(Number.isFinite(claim.deadline) ? false : true);
      }
      if (prop === "noteOrder") {
        return (claim: Claim, url: string | null) => {
          noted.push(url);
          if (fenceNotes > 0) {
            fenceNotes--;
            return Promise.resolve(false);
          }
          return target.noteOrder(claim, url);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Storage;

  const client = new Proxy(fake, {
    get(target, prop) {
      if (prop === "getOrder") {
        return (url: string) => {
          if (!known.has(url)) {
            return Promise.reject(
              new AcmeProblem({ type: "urn:ietf:params:acme:error:malformed", detail: "No such order", status: 404 }),
            );
          }
          return target.pollOrder(url);
        };
      }
      if (prop === "newOrder") {
        return async (opts: Parameters<FakeCa["newOrder"]>[0]) => {
          const order = await target.newOrder(opts);
          known.add(order.url);
          return order;
        };
      }
      if (prop === "downloadCertificate") {
        return (url: string) => {
          downloads.push(url);
          return target.downloadCertificate(url);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as unknown as AcmeClient;

  const issuer = new IssuanceService({
    client: () => client,
    directoryUrl: "https://fake.ca/dir",
    solvers: new Map([["http", new Http01Solver(new Http01Responder())]]),
    storages: new Map([["shared", storage]]),
    log,
    faults: tweaks.faults,
  });
  const request = await requestFor(NAME, "shared");
  const placeEarlier = async (status: "pending" | "valid" | "invalid") => {
    if (status === "invalid") fake.opts.failValidation = { [NAME]: "earlier holder's validation failed" };
    let order = await client.newOrder({ identifiers: [NAME] });
    if (status !== "pending") {
      const authz = await client.getAuthorization(order.authorizations[0]);
      await client.respondToChallenge(authz.challenges[0].url);
      order = await client.pollOrder(order.url, { deadline: Date.now() + 1000 });
    }
    if (status === "valid") order = await client.finalize(order, request.csrDer);
    fake.opts.failValidation = undefined;
    assertEquals(order.status, status);
    return order;
  };
  try {
    await fn({
      issuer,
      fake,
      request,
      log,
      noted,
      downloads,
      inherit: (url) => (inherited = url),
      placeEarlier,
    });
  } finally {
    await issuer.drain();
    await file.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const soon = () => Date.now() + 10_000;
const events = (log: ReturnType<typeof memoryLogger>, event: string) =>
  log.lines.map((l) => JSON.parse(l)).filter((e) => e.event === event);

Deno.test("resume: a valid order left by an earlier holder is downloaded, not ordered again", async () => {
  await withIssuer({}, async ({ issuer, fake, request, noted, downloads, inherit, placeEarlier, log }) => {
    const earlier = await placeEarlier("valid");
    const before = { orders: fake.orders, finalized: fake.finalized };
    inherit(earlier.url);
    const result = await issuer.issue(request, soon());
    assertEquals(result.cache, "miss");
    assertEquals([fake.orders, fake.finalized], [before.orders, before.finalized], "no new order, no finalize");
    assertEquals(downloads, [earlier.certificate!]);
    assertEquals(noted, []);
    assertEquals(events(log, "resuming the order of an earlier holder").length, 1);
  });
});

Deno.test("resume: a pending order is continued (challenges answered, finalized)", async () => {
  await withIssuer({}, async ({ issuer, fake, request, noted, inherit, placeEarlier }) => {
    const earlier = await placeEarlier("pending");
    const orders = fake.orders;
    inherit(earlier.url);
    const result = await issuer.issue(request, soon());
    assertEquals(result.cache, "miss");
    assertEquals(fake.orders, orders, "no new order");
    assertEquals(fake.answered, [NAME]);
    assertEquals(fake.finalized, 1);
    assertEquals(noted, []);
  });
});

Deno.test("resume: an invalid or unknown order is replaced by a new one, which is recorded", async () => {
  for (const kind of ["invalid", "unknown"] as const) {
    await withIssuer({}, async ({ issuer, fake, request, noted, inherit, placeEarlier, log }) => {
      const url = kind === "invalid" ? (await placeEarlier("invalid")).url : "https://fake.ca/order/gone";
      const orders = fake.orders;
      inherit(url);
      const result = await issuer.issue(request, soon());
      assertEquals(result.cache, "miss");
      assertEquals(fake.orders, orders + 1, `${kind}: one new order`);
      assertEquals(noted.length, 1);
      assert(noted[0] !== url);
      assertEquals(events(log, "resuming the order of an earlier holder").length, 0);
    });
  }
});

Deno.test("fault points: before and after the order URL is recorded, with the same order", async () => {
  const seen: string[] = [];
  const faults: IssuanceFaults = {
    beforeNoteOrder: (p: FaultPoint) => void seen.push(`before ${p.orderUrl} fence ${p.claim.fence}`),
    afterNoteOrder: (p: FaultPoint) => void seen.push(`after ${p.orderUrl}`),
  };
  await withIssuer({ faults }, async ({ issuer, request, noted }) => {
    await issuer.issue(request, soon());
    assertEquals(noted.length, 1);
    assertEquals(seen, [`before ${noted[0]} fence 1`, `after ${noted[0]}`]);
  });
});

Deno.test("fenced out at noteOrder: the order stops, the claim is taken again", async () => {
  await withIssuer({ fenceNotes: 1 }, async ({ issuer, fake, request, noted, downloads, log }) => {
    const result = await issuer.issue(request, soon());
    assertEquals(result.cache, "miss");
    assertEquals(noted.length, 2, "the first order could not be recorded; the second was");
    assertEquals(fake.orders, 2);
    assertEquals(fake.answered.length, 1, "nothing more was done for the unrecorded order");
    assertEquals(downloads.length, 1);
    assertEquals(events(log, "storage claim lost during the order").length, 1);
  });
});

Deno.test("lease ended during the order: no further CA call under that claim", async () => {
  await withIssuer(
    { shortLeaseMs: 100, finalizeDelayMs: 250 },
    async ({ issuer, fake, request, downloads, log }) => {
      const result = await issuer.issue(request, soon());
      assertEquals(result.cache, "miss");
      // The first order finalized while its lease ran out: its certificate is never downloaded.
      assertEquals(fake.orders, 2);
      assertEquals(downloads.length, 1);
      assertEquals(events(log, "storage claim lost during the order").length, 1);
    },
  );
});

Deno.test("resume: a request that waited for another instance's order which failed answers 503, no second order", async () => {
  await withIssuer({ heldFirst: true }, async ({ issuer, fake, request, inherit, placeEarlier }) => {
    const earlier = await placeEarlier("invalid");
    const orders = fake.orders;
    inherit(earlier.url);
    const e = await assertRejects(() => issuer.issue(request, soon()));
    assert(e instanceof IssueFailure && e.kind === "unavailable", String(e));
    assert(/Another instance's order for this CSR failed/.test(e.message), e.message);
    assertEquals(fake.orders, orders, "no second order");
  });
});

Deno.test("resume: an order that failed for good is forgotten (nobody later waits on it or resumes it)", async () => {
  await withIssuer({}, async ({ issuer, fake, request, noted }) => {
    fake.opts.failValidation = { [NAME]: "connection refused" };
    const e = await assertRejects(() => issuer.issue(request, soon()));
    assert(e instanceof IssueFailure && e.kind === "names-refused", String(e));
    assertEquals(noted.length, 2);
    assert(noted[0]?.startsWith("https://fake.ca/order/"), String(noted[0]));
    assertEquals(noted[1], null, "then forgotten");
  });
});
