import { assert, assertEquals } from "../../support/assert.ts";
import { Notifiers, wantsEvent } from "../../../src/ops/notify.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import type { NotifyConfig } from "../../../src/config/types.ts";

function notifier(over: Partial<NotifyConfig>): NotifyConfig {
  return {
    name: "n",
    type: "webhook",
    events: ["issue-failed"],
    timeoutMs: 2000,
    retries: 2,
    expiringDays: 7,
    source: { file: "x", line: 1 },
    ...over,
  };
}

Deno.test("notify: webhook POSTs the event JSON, retries on failure, only subscribed events", async () => {
  const received: unknown[] = [];
  let failFirst = 1;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    received.push(await request.json());
    if (failFirst-- > 0) return new Response("busy", { status: 500 });
    return new Response("ok");
  });
  try {
    const metrics = new AcmemsMetrics();
    const notifiers = new Notifiers(
      [notifier({ url: `http://127.0.0.1:${server.addr.port}/hook/secret-token` })],
      { log: memoryLogger(), metrics, retryBaseMs: 10 },
    );
    notifiers.emit("renewal-failed", { names: ["a.example.test"], message: "not subscribed" });
    notifiers.emit("issue-failed", { names: ["a.example.test"], message: "validation failed", status: 421 });
    await notifiers.drain();
    assertEquals(received.length, 2, "one failure, one retry");
    const event = received[1] as Record<string, unknown>;
    assertEquals([event.event, event.names, event.status], ["issue-failed", ["a.example.test"], 421]);
    assertEquals(metrics.notifications.get({ notifier: "n", result: "ok" }), 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("notify: a webhook that keeps failing is logged once after its retries", async () => {
  let calls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    calls++;
    await request.body?.cancel();
    return new Response("no", { status: 503 });
  });
  try {
    const log = memoryLogger();
    const notifiers = new Notifiers([notifier({ url: `http://127.0.0.1:${server.addr.port}/`, retries: 2 })], {
      log,
      retryBaseMs: 5,
    });
    notifiers.emit("issue-failed", { names: ["x"], message: "m" });
    await notifiers.drain();
    assertEquals(calls, 3);
    assert(log.lines.some((l) => l.includes("notification failed") && l.includes("HTTP 503")), log.lines.join("\n"));
  } finally {
    await server.shutdown();
  }
});

Deno.test("notify: exec gets the event JSON on stdin; a failing command is reported", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-notify-" });
  try {
    const script = `${dir}/hook.sh`;
    await Deno.writeTextFile(script, `#!/bin/sh\ncat > "${dir}/event.json"\n`);
    await Deno.chmod(script, 0o755);
    const log = memoryLogger();
    const notifiers = new Notifiers(
      [
        notifier({ type: "exec", command: [script], events: ["expiring"] }),
        notifier({ name: "bad", type: "exec", command: ["/bin/false"], events: ["expiring"], retries: 0 }),
      ],
      // Two days before the notAfter below: within both notifiers' expiring-days.
      { log, retryBaseMs: 5, now: () => new Date("2026-12-30T00:00:00Z") },
    );
    notifiers.emit("expiring", {
      names: ["b.example.test"],
      message: "expires soon",
      notAfter: "2027-01-01T00:00:00Z",
    });
    await notifiers.drain();
    const event = JSON.parse(await Deno.readTextFile(`${dir}/event.json`));
    assertEquals([event.event, event.notAfter], ["expiring", "2027-01-01T00:00:00Z"]);
    assert(log.lines.some((l) => l.includes('"notifier":"bad"') && l.includes("exited with 1")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notify: expiring goes only to notifiers whose own expiring-days covers the notAfter", async () => {
  const received: Record<string, unknown>[] = [];
  const fakeFetch = ((url: string | URL | Request, init?: RequestInit) => {
    received.push({ url: String(url), ...JSON.parse(String(init?.body)) });
    return Promise.resolve(new Response("ok"));
  }) as typeof fetch;
  const now = new Date("2027-01-01T00:00:00Z");
  const notifiers = new Notifiers(
    [
      notifier({ name: "week", url: "http://hooks.test/week", events: ["expiring"], expiringDays: 7 }),
      notifier({ name: "month", url: "http://hooks.test/month", events: ["expiring"], expiringDays: 30 }),
    ],
    { log: memoryLogger(), fetch: fakeFetch, now: () => now },
  );
  // 10 days left: inside the month notifier's window only.
  notifiers.emit("expiring", { names: ["a.example.test"], message: "m", notAfter: "2027-01-11T00:00:00Z" });
  await notifiers.drain();
  assertEquals(received.map((r) => r.url), ["http://hooks.test/month"]);
  // 3 days left: both.
  notifiers.emit("expiring", { names: ["a.example.test"], message: "m", notAfter: "2027-01-04T00:00:00Z" });
  await notifiers.drain();
  assertEquals(received.slice(1).map((r) => r.url).sort(), ["http://hooks.test/month", "http://hooks.test/week"]);
});

Deno.test("notify: wantsEvent filters by event, and expiring by the notifier's days (boundary included)", () => {
  const now = new Date("2027-01-01T00:00:00Z");
  const week = notifier({ events: ["expiring", "issue-failed"], expiringDays: 7 });
  const payload = (event: "expiring" | "issue-failed" | "renewal-failed", notAfter?: string) => ({
    event,
    time: now.toISOString(),
    host: "h",
    names: ["a"],
    message: "m",
    notAfter,
  });
  assertEquals(wantsEvent(week, payload("expiring", "2027-01-08T00:00:00Z"), now), true, "exactly 7 days");
  assertEquals(wantsEvent(week, payload("expiring", "2027-01-08T00:00:01Z"), now), false, "7 days and a second");
  assertEquals(wantsEvent(week, payload("expiring", "not a date"), now), true, "unreadable: sent");
  assertEquals(wantsEvent(week, payload("issue-failed"), now), true);
  assertEquals(wantsEvent(week, payload("renewal-failed"), now), false, "not subscribed");
});
