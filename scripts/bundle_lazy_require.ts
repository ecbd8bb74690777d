/**
 * Post-processes the code-split bundle (`deno task bundle`, dist/): `deno bundle` puts the `require` shim of
 * CommonJS npm code (`import { createRequire } from "node:module"`) into the shared runtime chunk every other chunk
 * imports, so every command, `--version` included, loaded Node compatibility (about 25 ms of CPU and several MB at
 * start) although only CommonJS packages call `__require` (today dns-packet, for node:buffer). This moves the shim
 * into the chunks that call it: the runtime chunk's `__require` looks the real one up in a global that those chunks
 * set before their code runs.
 *
 * Contract: idempotent; a bundle without the shim is left as it is; never changes what a chunk does besides where
 * `createRequire` comes from. Prints what it changed.
 *
 *   deno run --allow-read=dist --allow-write=dist scripts/bundle_lazy_require.ts dist
 */

/** The two lines deno bundle writes into the runtime chunk. */
export const SHIM = 'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";
const KEY = 'Symbol.for("acmems.require")';
/** The runtime chunk's `__require`, without node:module. */
export const DEFERRED = `var __require = (id) => globalThis[${KEY}](id);\n`;
/** What a chunk that calls `__require` gets first. */
export const PROVIDER = 'import { createRequire as __acmems_createRequire } from "node:module";\n' +
  `globalThis[${KEY}] ??= __acmems_createRequire(import.meta.url);\n`;

/** The new text of each changed file of `files` (name -> text). */
export function deferRequire(files: Map<string, string>): Map<string, string> {
  const changed = new Map<string, string>();
  const runtime = [...files].filter(([, text]) => text.includes(SHIM));
  if (runtime.length === 0) return changed;
  for (const [name, text] of runtime) changed.set(name, text.replace(SHIM, DEFERRED));
  for (const [name, original] of files) {
    const text = changed.get(name) ?? original;
    const body = text.replace(DEFERRED, "");
    if (!/(?<![\w$])__require\(/.test(body) || text.startsWith(PROVIDER)) continue;
    changed.set(name, PROVIDER + text);
  }
  return changed;
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "dist";
  const files = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".js")) {
      files.set(entry.name, await Deno.readTextFile(`${dir}/${entry.name}`));
    }
  }
  const changed = deferRequire(files);
  for (const [name, text] of changed) await Deno.writeTextFile(`${dir}/${name}`, text);
  console.log(
    changed.size === 0
      ? "bundle_lazy_require: no require shim to move"
      : `bundle_lazy_require: require shim moved out of the shared chunk into ${
        [...changed.keys()].filter((n) => changed.get(n)!.startsWith(PROVIDER)).join(", ") || "no chunk (none calls it)"
      }`,
  );
}
