/**
 * Kept only for tests/e2e/chaos_test.ts (owned elsewhere): the e2e config as text. Everything else uses
 * tests/support/config.ts (`testConfig`) and tests/support/stack.ts directly; delete this file once chaos_test.ts
 * imports from there.
 */
import { configText, NO_STORAGE, testConfig } from "../support/config.ts";
import type { Pebble } from "../support/pebble.ts";

export { Cleanup, since } from "../support/stack.ts";

/** Config text for one acmems instance in front of `pebble`, with an http01 listener on `httpPort`, no cache. */
export function acmemsConfig(opts: { pebble: Pebble; mgmtPort: number; httpPort: number }): string {
  return configText(testConfig({
    comment: "acmems end-to-end test config",
    ca: opts.pebble,
    mgmtPort: opts.mgmtPort,
    httpPort: opts.httpPort,
    storages: { none: NO_STORAGE },
  }));
}
