/**
 * `Link` header parsing (RFC 8288), enough for ACME's `rel="alternate"`, `rel="up"` and `rel="index"`.
 *
 * Contract: pure and lenient: malformed entries are skipped, never thrown on. Several `Link` headers
 * arrive joined by ", " from `Headers.get`, which this parser handles because it splits only on commas
 * outside `<…>` and quotes. Targets are resolved against the request URL.
 */

/** One link. */
export interface Link {
  url: string;
  rel: string[];
  params: Record<string, string>;
}

/** Parses a `Link` header value. */
export function parseLinkHeader(value: string | null, baseUrl: string): Link[] {
  if (!value) return [];
  const links: Link[] = [];
  let i = 0;
  while (i < value.length) {
    const open = value.indexOf("<", i);
    if (open < 0) break;
    const close = value.indexOf(">", open);
    if (close < 0) break;
    const target = value.slice(open + 1, close).trim();
    const params: Record<string, string> = {};
    i = close + 1;
    // Parameters run until a top-level comma.
    while (i < value.length) {
      while (i < value.length && /\s/.test(value[i])) i++;
      if (value[i] === ",") {
        i++;
        break;
      }
      if (value[i] !== ";") {
        i++;
        continue;
      }
      i++;
      const nameMatch = /^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*/.exec(value.slice(i));
      if (!nameMatch) continue;
      const name = nameMatch[1].toLowerCase();
      i += nameMatch[0].length;
      let paramValue = "";
      if (value[i] === "=") {
        i++;
        while (value[i] === " ") i++;
        if (value[i] === '"') {
          i++;
          while (i < value.length && value[i] !== '"') {
            if (value[i] === "\\" && i + 1 < value.length) i++;
            paramValue += value[i++];
          }
          i++;
        } else {
          const tok = /^[^;,\s]*/.exec(value.slice(i))![0];
          paramValue = tok;
          i += tok.length;
        }
      }
      if (!(name in params)) params[name] = paramValue;
    }
    let url: string;
    try {
      url = new URL(target, baseUrl).href;
    } catch {
      continue;
    }
    links.push({ url, rel: (params.rel ?? "").toLowerCase().split(/\s+/).filter(Boolean), params });
  }
  return links;
}

/** The URLs of all links with the given relation. */
export function linksWithRel(value: string | null, baseUrl: string, rel: string): string[] {
  return parseLinkHeader(value, baseUrl).filter((l) => l.rel.includes(rel.toLowerCase())).map((l) => l.url);
}
