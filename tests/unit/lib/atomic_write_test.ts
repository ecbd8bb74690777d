/**
 * src/lib/atomic_write.ts: the mode is set through the file descriptor, never by path, so a temporary path swapped
 * by someone else in the directory is never chmod-ed; the mode is exact whatever the umask; failures leave `path`
 * untouched and no temporary file behind.
 */
import process from "node:process";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { atomicWriteFile } from "../../../src/lib/atomic_write.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-atomic-write-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function modeOf(path: string): Promise<number> {
  return (await Deno.lstat(path)).mode! & 0o777;
}

async function names(dir: string): Promise<string[]> {
  const list: string[] = [];
  for await (const entry of Deno.readDir(dir)) list.push(entry.name);
  return list.sort();
}

Deno.test("atomicWriteFile: a temporary path swapped for a symlink at chmod time does not chmod the link's target", async () => {
  await withDir(async (dir) => {
    // Someone who can write the directory swaps the temporary path for a symlink to a private file at the moment
    // a chmod by path would run; a chmod by path follows the link and makes the private file world-readable.
    const victim = `${dir}/private.key`;
    await Deno.writeTextFile(victim, "secret\n", { mode: 0o600 });
    await Deno.chmod(victim, 0o600);
    const realChmod = Deno.chmod;
    let swapped = 0;
    Deno.chmod = async (path: string | URL, mode: number) => {
      const p = String(path);
      if (p.endsWith(".tmp")) {
        swapped++;
        await Deno.remove(p);
        await Deno.symlink(victim, p);
      }
      return await realChmod(path, mode);
    };
    try {
      await atomicWriteFile(`${dir}/cert.pem`, "public\n", { mode: 0o644 });
    } finally {
      Deno.chmod = realChmod;
    }
    assertEquals(await modeOf(victim), 0o600, `the private file kept its mode (path-based chmod calls: ${swapped})`);
    assertEquals(await Deno.readTextFile(victim), "secret\n");
    assertEquals(swapped, 0, "no chmod by path");
    assertEquals(await Deno.readTextFile(`${dir}/cert.pem`), "public\n");
    assertEquals(await modeOf(`${dir}/cert.pem`), 0o644);
  });
});

Deno.test("atomicWriteFile: the mode is exact whatever the umask (0600 by default)", async () => {
  await withDir(async (dir) => {
    const old = process.umask(0o077);
    try {
      await atomicWriteFile(`${dir}/public.pem`, "a", { mode: 0o644 });
      await atomicWriteFile(`${dir}/secret.key`, "b");
      process.umask(0);
      await atomicWriteFile(`${dir}/secret2.key`, "c", { mode: 0o600 });
      await atomicWriteFile(`${dir}/readonly.key`, "d", { mode: 0o400 });
    } finally {
      process.umask(old);
    }
    assertEquals(await modeOf(`${dir}/public.pem`), 0o644);
    assertEquals(await modeOf(`${dir}/secret.key`), 0o600);
    assertEquals(await modeOf(`${dir}/secret2.key`), 0o600);
    assertEquals(await modeOf(`${dir}/readonly.key`), 0o400);
    assertEquals(await Deno.readTextFile(`${dir}/readonly.key`), "d");
  });
});

Deno.test("atomicWriteFile: the temporary file has its final mode before the rename; replaces the old content", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/data.json`;
    await atomicWriteFile(path, "old");
    let seen = -1;
    const big = new Uint8Array(1 << 20).fill(0x61);
    await atomicWriteFile(path, big, {
      mode: 0o640,
      beforeRename: async (temp) => {
        seen = await modeOf(temp);
      },
    });
    assertEquals(seen, 0o640);
    assertEquals((await Deno.readFile(path)).length, big.length);
    assertEquals(await names(dir), ["data.json"]);
  });
});

Deno.test("atomicWriteFile: a failure before the rename leaves the old file and no temporary file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/data.json`;
    await atomicWriteFile(path, "old");
    await assertRejects(
      () =>
        atomicWriteFile(path, "new", {
          beforeRename: () => {
            throw new Error("crash before rename");
          },
        }),
      /crash before rename/,
    );
    assertEquals(await Deno.readTextFile(path), "old");
    assertEquals(await names(dir), ["data.json"]);
    // A directory that does not exist: the error names the path, nothing is created.
    const error = await assertRejects(() => atomicWriteFile(`${dir}/missing/x`, "x"));
    assert(error instanceof Error);
  });
});
