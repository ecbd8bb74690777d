/** The README's configuration reference documents every option the config model knows, so they cannot drift. */
import { assert } from "../../support/assert.ts";
import { OPTION_TABLES } from "../../../src/config/schema.ts";

const README = await Deno.readTextFile(new URL("../../../README.md", import.meta.url));

function section(heading: string): string {
  const start = README.indexOf(`### \`${heading}\``);
  assert(start >= 0, `README has no "### \`${heading}\`" section`);
  const next = README.indexOf("\n#", start + 4);
  return README.slice(start, next < 0 ? undefined : next);
}

for (const [heading, tables] of Object.entries(OPTION_TABLES)) {
  Deno.test(`README documents every option of ${heading}`, () => {
    const text = section(heading);
    for (const table of tables) {
      for (const rule of Object.values(table)) {
        const option = rule.key;
        assert(text.includes(`\`${option}\``), `README section ${heading} does not mention \`${option}\``);
        for (const alias of rule.aliases ?? []) {
          assert(text.includes(`\`${alias}\``), `README section ${heading} does not mention the alias \`${alias}\``);
        }
      }
    }
  });
}
