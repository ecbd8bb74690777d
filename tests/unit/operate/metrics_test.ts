import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { acmeEndpoint, AcmemsMetrics, Counter, Histogram, Registry } from "../../../src/metrics.ts";

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
