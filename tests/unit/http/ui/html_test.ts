/** The operator page's escaping (src/http/ui/html.ts): interpolations are text, never markup. */
import { assertEquals } from "../../../support/assert.ts";
import { escapeHtml, html, trusted } from "../../../../src/http/ui/html.ts";

Deno.test("ui html: every interpolation is escaped, Html and lists are inserted, null/false are nothing", () => {
  assertEquals(
    escapeHtml(`<script>alert("x")</script> & 'y'`),
    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;",
  );
  const name = `<script>alert(1)</script>`;
  assertEquals(
    html`<td title="${name}">${name}</td>`.text,
    `<td title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;</td>`,
  );
  // An attribute value cannot be left: a quote becomes an entity.
  assertEquals(html`<a href="${`x" onclick="evil()`}">`.text, `<a href="x&quot; onclick=&quot;evil()">`);
  assertEquals(html`<ul>${["<a>", html`<li>${"b&c"}</li>`]}</ul>`.text, "<ul>&lt;a&gt;<li>b&amp;c</li></ul>");
  assertEquals(html`${null}${undefined}${false}${0}`.text, "0");
  assertEquals(html`${trusted("<br>")}`.text, "<br>");
  // Nested Html stays markup; a string that looks like markup does not.
  assertEquals(html`<p>${html`<b>${"<i>"}</b>`}</p>`.text, "<p><b>&lt;i&gt;</b></p>");
});
