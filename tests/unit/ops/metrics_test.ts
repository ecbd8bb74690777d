import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { acmeEndpoint, AcmemsMetrics, Counter, Histogram, Registry } from "../../../src/ops/metrics.ts";

Deno.test("metrics: text exposition of counters, histograms and callback gauges", () => {
  const registry = new Registry();
  const counter = registry.register(new Counter("x_total", "Things."));
  counter.inc({ status: "200", block: 'we"ird\\n' });
  counter.inc({ status: "200", block: 'we"ird\\n' }, 2);
  const histogram = registry.register(new Histogram("d_seconds", "Durations.", [0.5, 1]));
  histogram.observe(0.2);
  histogram.observe(0.7);
  histogram.observe(3);
  const text = registry.render();
  assertStringIncludes(text, "# HELP x_total Things.\n# TYPE x_total counter\n");
  assertStringIncludes(text, 'x_total{status="200",block="we\\"ird\\\\n"} 3\n');
  assertStringIncludes(text, 'd_seconds_bucket{le="0.5"} 1\n');
  assertStringIncludes(text, 'd_seconds_bucket{le="1"} 2\n');
  assertStringIncludes(text, 'd_seconds_bucket{le="+Inf"} 3\n');
  assertStringIncludes(text, "d_seconds_sum 3.9\n");
  assertStringIncludes(text, "d_seconds_count 3\n");
});

Deno.test("metrics: per-certificate gauges are bounded", () => {
  const metrics = new AcmemsMetrics();
  for (let i = 0; i < 5; i++) metrics.noteCertificate(`k${i}`, { name: `h${i}.example.test`, notAfter: 1000 + i }, 3);
  const text = metrics.registry.render();
  assert(!text.includes('name="h0.example.test"') && !text.includes('name="h1.example.test"'));
  assertStringIncludes(text, 'acmems_certificate_not_after_seconds{name="h4.example.test"} 1004');
  assertEquals(metrics.certificates.size, 3);
  // The same key again in a row updates its sample and keeps it the newest: the oldest still goes first.
  metrics.noteCertificate("k4", { name: "h4.example.test", notAfter: 2004 }, 3);
  metrics.noteCertificate("k2", { name: "h2.example.test", notAfter: 2002 }, 3);
  metrics.noteCertificate("k2", { name: "h2.example.test", notAfter: 3002 }, 3);
  metrics.noteCertificate("k5", { name: "h5.example.test", notAfter: 1005 }, 3);
  assertEquals([...metrics.certificates.keys()], ["k4", "k2", "k5"]);
  assertEquals(metrics.certificates.get("k2")?.notAfter, 3002);
  assertEquals(metrics.certificates.get("k4")?.notAfter, 2004);
});

Deno.test("metrics: cache entries sharing a primary name give one series per name, the latest notAfter", () => {
  const metrics = new AcmemsMetrics();
  // Two CSRs (other keys, other further names) whose first name is the same: two cache keys, one name.
  metrics.noteCertificate("key-a", { name: "www.example.test", notAfter: 2000, dueAt: 1500, lastFetch: 10 });
  metrics.noteCertificate("key-b", { name: "www.example.test", notAfter: 1000, dueAt: 900, lastRenewalFailure: 5 });
  metrics.noteCertificate("key-c", { name: "mail.example.test", notAfter: 3000 });
  const lines = metrics.registry.render().split("\n");
  const series = (metric: string) => lines.filter((l) => l.startsWith(`${metric}{`));
  assertEquals(series("acmems_certificate_not_after_seconds"), [
    'acmems_certificate_not_after_seconds{name="www.example.test"} 2000',
    'acmems_certificate_not_after_seconds{name="mail.example.test"} 3000',
  ]);
  // Every gauge of the name comes from the same (latest) entry.
  assertEquals(series("acmems_certificate_renewal_due_seconds"), [
    'acmems_certificate_renewal_due_seconds{name="www.example.test"} 1500',
  ]);
  assertEquals(series("acmems_certificate_last_fetch_seconds"), [
    'acmems_certificate_last_fetch_seconds{name="www.example.test"} 10',
  ]);
  assertEquals(series("acmems_certificate_last_renewal_failure_seconds"), []);
  assertEquals(metrics.certificates.size, 3, "the entries themselves are still kept by cache key");
});

Deno.test("metrics: ACME endpoints are named for Boulder and pebble paths", () => {
  const cases: [string, string, string][] = [
    ["https://acme-v02.api.letsencrypt.org/directory", "GET", "directory"],
    ["https://acme-v02.api.letsencrypt.org/acme/new-nonce", "HEAD", "newNonce"],
    ["https://127.0.0.1:14000/nonce-plz", "HEAD", "newNonce"],
    ["https://127.0.0.1:14000/order-plz", "POST", "newOrder"],
    ["https://acme-v02.api.letsencrypt.org/acme/new-order", "POST", "newOrder"],
    ["https://127.0.0.1:14000/sign-me-up", "POST", "newAccount"],
    ["https://127.0.0.1:14000/authZ/abc", "POST", "authorization"],
    ["https://127.0.0.1:14000/chalZ/abc", "POST", "challenge"],
    ["https://127.0.0.1:14000/finalize-order/abc", "POST", "finalize"],
    ["https://127.0.0.1:14000/certZ/abc", "POST", "certificate"],
    ["https://127.0.0.1:14000/my-order/abc", "POST", "order"],
    ["https://127.0.0.1:14000/draft-ietf-acme-ari-03/renewalInfo/a.b", "GET", "renewalInfo"],
  ];
  for (const [url, method, expected] of cases) assertEquals(acmeEndpoint(url, method), expected, url);
});

Deno.test("metrics: the idle trims counter", () => {
  const metrics = new AcmemsMetrics();
  metrics.memoryTrims.inc();
  assertStringIncludes(metrics.registry.render(), "acmems_memory_trims_total 1\n");
});
