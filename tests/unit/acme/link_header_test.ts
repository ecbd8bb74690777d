import { assertEquals } from "../../support/assert.ts";
import { linksWithRel, parseLinkHeader } from "../../../src/acme/link_header.ts";

const BASE = "https://ca.test/cert/abc";

Deno.test("Link header: alternates among several joined headers, relative targets resolved", () => {
  const value = '<https://ca.test/dir>;rel="index", <https://ca.test/cert/abc/1>;rel="alternate", ' +
    '</cert/abc/2>; rel=alternate, <https://ca.test/issuer, with comma>;rel="up"';
  assertEquals(linksWithRel(value, BASE, "alternate"), ["https://ca.test/cert/abc/1", "https://ca.test/cert/abc/2"]);
  assertEquals(linksWithRel(value, BASE, "up"), ["https://ca.test/issuer,%20with%20comma"]);
  assertEquals(linksWithRel(value, BASE, "index"), ["https://ca.test/dir"]);
});

Deno.test("Link header: multiple rel values, quoted params, garbage", () => {
  const links = parseLinkHeader('<a>; rel="alternate  up"; title="x, \\"y\\""', BASE);
  assertEquals(links, [{
    url: "https://ca.test/cert/a",
    rel: ["alternate", "up"],
    params: { rel: "alternate  up", title: 'x, "y"' },
  }]);
  assertEquals(parseLinkHeader(null, BASE), []);
  assertEquals(parseLinkHeader("garbage without brackets", BASE), []);
  assertEquals(parseLinkHeader("<unterminated", BASE), []);
});
