/** The last /sign failures with an error id (src/http/ui/recent_failures.ts) and their section on the page. */
import { assert, assertEquals, assertStringIncludes } from "../../../support/assert.ts";
import { signDecision } from "../../../../src/http/audit.ts";
import { RecentFailures } from "../../../../src/http/ui/recent_failures.ts";
import { type PageData, renderPage } from "../../../../src/http/ui/page.ts";

const AT = new Date("2027-01-10T12:00:00Z");

Deno.test("recent failures: only decisions with an error id, newest first, bounded", () => {
  const failures = new RecentFailures(2);
  failures.note(signDecision("192.0.2.1", 200, 5, { outcome: "issued", names: ["a.example.test"] }), AT);
  failures.note(signDecision("192.0.2.1", 403, 5, { outcome: "not authorized before the body" }), AT);
  for (const [i, status] of [[1, 503], [2, 421], [3, 500]]) {
    failures.note(
      signDecision(`192.0.2.${i}`, status, 5, {
        outcome: `issue failed: ${status}`,
        names: [`n${i}.example.test`],
        block: "web",
        errorId: `id${i}`,
      }),
      new Date(AT.getTime() + i * 1000),
    );
  }
  assertEquals(failures.list().map((f) => [f.errorId, f.status, f.client]), [
    ["id3", 500, "192.0.2.3"],
    ["id2", 421, "192.0.2.2"],
  ]);
});

Deno.test("recent failures: the page lists them escaped, says none, or leaves the section out (no server)", () => {
  const data: PageData = {
    now: AT,
    version: "test",
    cas: [],
    storages: [],
    rows: [],
    budget: null,
    persist: { configured: false },
    failures: [{
      at: AT.toISOString(),
      status: 421,
      names: ["<b>x</b>.example.test"],
      block: "web",
      client: "192.0.2.7",
      outcome: "issue failed: 421",
      errorId: "ab12cd34",
    }],
  };
  const page = renderPage(data).replace(/>\s+</g, "><");
  assertStringIncludes(page, "Recent failed requests");
  assertStringIncludes(page, "<td>421</td><td>&lt;b&gt;x&lt;/b&gt;.example.test</td><td>web</td>");
  assertStringIncludes(page, '<td class="mono">ab12cd34</td>');
  assertStringIncludes(renderPage({ ...data, failures: [] }), "None since acmems started.");
  assert(!renderPage({ ...data, failures: null }).includes("Recent failed requests"));
});
