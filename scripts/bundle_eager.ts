/**
 * Post-processes the code-split bundle (`deno task bundle`, dist/): puts back the parentheses of the config code's
 * eagerly compiled functions. The source writes them `const name = (function name(…) {…}).bind(null)` (README,
 * Layout: `src/config/`) so that V8 compiles them while the module loads and the code cache keeps them; esbuild
 * prints `var name = function name2(…) {…}.bind(null);` without the parentheses, and V8 then compiles each one at
 * its first call, on every start of the bundle.
 *
 * Contract: only a top-level `var|let|const NAME = [async ]function…` whose function ends at the next line that is
 * exactly `}.bind(null);` is changed, to `(function…` … `}).bind(null);`; nothing else; idempotent. Prints how many.
 *
 *   deno run --allow-read=dist --allow-write=dist scripts/bundle_eager.ts dist
 */

const START = /^((?:var|let|const) [\w$]+ = )((?:async )?function\b)/;
const END = "}.bind(null);";

/** `text` with the eager functions parenthesized again, and how many. */
export function parenthesizeEager(text: string): { text: string; count: number } {
  const lines = text.split("\n");
  let count = 0;
  for (let i = 0; i < lines.length; i++) {
    const start = START.exec(lines[i]);
    if (!start) continue;
    // The function's body is indented: the first line at column 0 after the start is its end.
    let end = i + 1;
    while (end < lines.length && (lines[end] === "" || /^\s/.test(lines[end]))) end++;
    if (lines[end] !== END) continue;
    lines[i] = start[1] + "(" + start[2] + lines[i].slice(start[0].length);
    lines[end] = "})" + END.slice(1);
    count++;
    i = end;
  }
  return { text: lines.join("\n"), count };
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "dist";
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".js")) continue;
    const path = `${dir}/${entry.name}`;
    const { text, count } = parenthesizeEager(await Deno.readTextFile(path));
    if (count > 0) await Deno.writeTextFile(path, text);
    total += count;
  }
  console.log(`bundle_eager: ${total} functions compiled while their chunk loads`);
}
