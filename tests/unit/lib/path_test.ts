/** src/lib/path.ts gives node:path's POSIX results for the cases acmems meets (and the odd ones). */
import { assertEquals } from "../../support/assert.ts";
import * as ours from "../../../src/lib/path.ts";
import * as node from "node:path";

const paths = [
  "",
  ".",
  "..",
  "/",
  "//",
  "a",
  "a/",
  "/a",
  "/a/",
  "/a/b",
  "/a/b/",
  "a/b/c.json",
  "/etc/acmems/../acmems.ini",
  "./x/./y/../z",
  "../../a",
  "/../a",
  "a//b///c",
  "/a/b/..",
  ".hidden/.x.tmp",
];

Deno.test("path: normalize, dirname, basename, isAbsolute match node:path (POSIX)", () => {
  for (const p of paths) {
    assertEquals(ours.normalize(p), node.posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    assertEquals(ours.dirname(p), node.posix.dirname(p), `dirname(${JSON.stringify(p)})`);
    assertEquals(ours.basename(p), node.posix.basename(p), `basename(${JSON.stringify(p)})`);
    assertEquals(ours.isAbsolute(p), node.posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
  }
});

Deno.test("path: join and resolve match node:path (POSIX)", () => {
  for (const a of paths) {
    for (const b of ["", "x", "x/", "/abs", "../up", "c.json"]) {
      assertEquals(ours.join(a, b), node.posix.join(a, b), `join(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
      assertEquals(ours.resolve(a, b), node.posix.resolve(a, b), `resolve(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
    }
  }
  assertEquals(ours.join(), node.posix.join());
});
