/**
 * POSIX path helpers (join, dirname, basename, isAbsolute, normalize, resolve), the subset acmems uses, with
 * node:path's POSIX results. Here so that a command which only reads files does not load Node compatibility
 * (`node:path` costs 10–20 ms of start-up).
 *
 * Contract: pure string functions (`resolve` reads `Deno.cwd()` for a relative result); "/" is the only separator.
 */

/** Removes `.` and `..` segments and doubled slashes; "" → ".". A trailing slash is kept. */
export const normalize = (function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(segment);
  }
  let joined = out.join("/");
  if (absolute) joined = `/${joined}`;
  if (joined === "") return absolute ? "/" : ".";
  return trailing && joined !== "/" ? `${joined}/` : joined;
}).bind(null);

/** Joins the non-empty parts with "/" and normalizes; no parts → ".". */
export const join = (function join(...parts: string[]): string {
  const kept = parts.filter((part) => part !== "");
  return kept.length === 0 ? "." : normalize(kept.join("/"));
}).bind(null);

/** True for a path starting with "/". */
export const isAbsolute = (function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}).bind(null);

/** The directory part: "/a/b" → "/a", "a" → ".", "/" → "/". */
export const dirname = (function dirname(path: string): string {
  if (path === "") return ".";
  let end = path.length;
  while (end > 1 && path[end - 1] === "/") end--;
  const slash = path.lastIndexOf("/", end - 1);
  if (slash === -1) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}).bind(null);

/** The last segment: "/a/b.json" → "b.json", "/a/b/" → "b". */
export const basename = (function basename(path: string): string {
  let end = path.length;
  while (end > 1 && path[end - 1] === "/") end--;
  const trimmed = path.slice(0, end);
  if (trimmed === "/") return "";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}).bind(null);

/** An absolute, normalized path: the parts applied right to left until one is absolute, then the cwd. */
export const resolve = (function resolve(...parts: string[]): string {
  let resolved = "";
  for (let i = parts.length - 1; i >= 0 && !resolved.startsWith("/"); i--) {
    if (parts[i] === "") continue;
    resolved = resolved === "" ? parts[i] : `${parts[i]}/${resolved}`;
  }
  if (!resolved.startsWith("/")) resolved = `${Deno.cwd()}/${resolved}`;
  const normalized = normalize(resolved);
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized;
}).bind(null);
