/**
 * Child process for tests/faults/cache_kill_test.ts: writes cache entries through `FileStorage` (claim, put, release)
 * as fast as it can, 100 distinct keys per round, round after round, until it is killed.
 *
 * Usage: deno run --allow-all tests/faults/_cache_writer.ts DIRECTORY
 * Prints "writing" once the first entry is on disk. Entries carry a ~4 KB chain whose every line names the round and
 * the key, so a torn or mixed file would not parse or would not match its key.
 */
import { silentLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { type Entry, isHeld } from "../../src/storage/mod.ts";
import { testEntry } from "../support/entry.ts";

export const KEYS = Array.from({ length: 100 }, (_, i) => i.toString(16).padStart(64, "c"));

export function entryFor(key: string, round: number): Entry {
  const line = `${round.toString().padStart(8, "0")}${key}`.slice(0, 64);
  const block = `-----BEGIN CERTIFICATE-----\n${(line + "\n").repeat(30)}-----END CERTIFICATE-----\n`;
  return testEntry(`${block}\n${block}`, key, { names: [`r${round}.example.test`] });
}

if (import.meta.main) {
  const storage = new FileStorage({
    name: "cache",
    directory: Deno.args[0],
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: silentLogger,
  });
  await storage.init();
  let announced = false;
  for (let round = 1;; round++) {
    for (const key of KEYS) {
      const claim = await storage.claim(key, "writer", 60_000);
      if (isHeld(claim)) continue;
      try {
        await storage.put(claim, entryFor(key, round));
      } finally {
        await storage.release(claim);
      }
      if (!announced) {
        announced = true;
        console.log("writing");
      }
    }
  }
}
