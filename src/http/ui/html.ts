/**
 * HTML escaping for the operator page: a tagged template `html` whose interpolations are escaped unless they are
 * already `Html` (built by `html` itself or marked with `trusted`). Pure.
 *
 * Contract: every value that reaches the page (names, errors, URLs, config values) goes through `escapeHtml`, so a
 * certificate name like `<script>` is shown as text and never becomes markup. `trusted` is only for markup this
 * module's callers build themselves from constants.
 */

/** Markup that is already safe to insert as is. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Marks constant markup as safe (never for values from storages, config or the network). */
export function trusted(markup: string): Html {
  return new Html(markup);
}

/** What may be interpolated: text (escaped), numbers, Html, lists of these (joined), null/undefined/false (nothing). */
export type HtmlValue = string | number | Html | null | undefined | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** The template with every interpolation escaped (see the contract above). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new Html(out);
}
