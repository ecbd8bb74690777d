/** The `CompromisedKeys` port (src/storage/port.ts) of the `file` and `none` storages. */
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { NoneStorage } from "../../../src/storage/none.ts";
import { assertEquals, assertRejects } from "../../support/assert.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

Deno.test("file: compromised keys survive a new instance, are recorded once, in a 0600 file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-compromised-" });
  try {
    const open = () =>
      new FileStorage({
        name: "file",
        directory: `${dir}/cache`,
        renewWithinDays: 14,
        renewActiveDays: 30,
        log: memoryLogger(),
      });
    const first = open();
    assertEquals(await first.compromisedKeys(), []);
    await first.recordCompromisedKey(A, new Date());
    await first.recordCompromisedKey(A, new Date());
    await first.recordCompromisedKey(B, new Date());
    await first.close();
    const second = open();
    assertEquals(await second.compromisedKeys(), [A, B]);
    assertEquals((await Deno.stat(`${dir}/cache/compromised-keys.json`)).mode! & 0o777, 0o600);
    // The file is not a cache entry: the sweep never sees it.
    assertEquals(await second.keys(), []);
    await Deno.writeTextFile(`${dir}/cache/compromised-keys.json`, "{not json");
    await assertRejects(() => second.compromisedKeys(), /compromised-keys\.json/);
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("none: compromised keys live in memory", async () => {
  const storage = new NoneStorage("none");
  await storage.recordCompromisedKey(A, new Date());
  assertEquals(await storage.compromisedKeys(), [A]);
});
