/** The expiry timeline (src/http/ui/timeline.ts): one mark per certificate, positions on the axis, escaping, cap. */
import { assert, assertEquals } from "../../../support/assert.ts";
import { testEntry } from "../../../support/entry.ts";
import { certificateRows } from "../../../../src/http/ui/rows.ts";
import { timelineAxis, timelineSvg } from "../../../../src/http/ui/timeline.ts";

const NOW = new Date("2027-01-10T12:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function rows(specs: { name: string; notAfter: number; notBefore?: number }[]) {
  return certificateRows(
    specs.map((s, i) => ({
      storage: "cache",
      renewWithinDays: 14,
      renewActiveDays: 30,
      entry: testEntry("C", String(i).padStart(64, "0"), {
        names: [s.name],
        notBefore: at(s.notBefore ?? -10),
        issuedAt: at(s.notBefore ?? -10),
        notAfter: at(s.notAfter),
        lastFetchedAt: at(-1),
      }),
    })),
    NOW,
  );
}

/** The numeric attribute `name` of every element matching `tag` with class `cls`. */
function attrs(svg: string, tag: string, cls: string, name: string): number[] {
  const re = new RegExp(`<${tag} class="${cls}"[^>]*\\b${name}="([0-9.]+)"`, "g");
  return [...svg.matchAll(re)].map((m) => Number(m[1]));
}

Deno.test("ui timeline: one expiry dot and one renewal diamond per certificate, from now to the latest notAfter", () => {
  const r = rows([{ name: "a.example.test", notAfter: 90 }, { name: "b.example.test", notAfter: 45 }]);
  assertEquals(timelineAxis(r, NOW), { start: NOW.getTime(), end: NOW.getTime() + 90 * DAY });
  const svg = timelineSvg(r, NOW)!.text;
  assert(svg.trim().startsWith("<svg") && svg.trim().endsWith("</svg>"), svg);
  // Sorted by renewal point: b (due at 31 d) first, then a (76 d). Expiry dots at 45/90 and 90/90 of the axis.
  const dots = attrs(svg, "circle", "expiry", "cx");
  assertEquals(dots.length, 2);
  const [left, right] = [264, 936];
  assertEquals(dots, [left + (right - left) * 0.5, right]);
  assertEquals(svg.match(/<polygon class="renewal"/g)?.length, 2);
  assert(svg.indexOf("b.example.test") < svg.indexOf("a.example.test"), "lanes follow the rows' order");
  assert(svg.includes(">now</text>") && svg.includes(`>${at(90).slice(0, 10)}</text>`), "axis from now to the end");
  assertEquals(timelineSvg([], NOW), null);
});

Deno.test("ui timeline: names are text (escaped), expired certificates sit at the start, lanes are capped", () => {
  const r = rows([
    { name: `<script>alert(1)</script>.example.test`, notAfter: 30 },
    { name: "old.example.test", notAfter: -3, notBefore: -93 },
    { name: "c.example.test", notAfter: 60 },
  ]);
  const svg = timelineSvg(r, NOW, { maxLanes: 2 })!.text;
  assert(!svg.includes("<script"), svg);
  assert(svg.includes("&lt;script&gt;alert(1)&lt;/script&gt;"), svg);
  assertEquals(attrs(svg, "circle", "expiry", "cx")[0], 264); // expired: at "now"
  assertEquals(svg.match(/<g class="cert /g)?.length, 2);
  assert(svg.includes("1 more not drawn"), svg);
  assert(!/style=|<script|href=/.test(svg), "no style attributes, scripts or links");
});
