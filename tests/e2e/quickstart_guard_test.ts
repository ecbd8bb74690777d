/**
 * The quick start's guard (scripts/quickstart/guard.ts), without peers: a busy port is refused before anything is
 * created (naming ACMEMS_QUICKSTART_PORT), a lock held by a running quick start is refused (naming its PID), and a
 * lock whose PID is dead or belongs to another program is taken over.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../support/assert.ts";
import { freePort } from "../support/ports.ts";
import { claimQuickstart, QuickstartBusy } from "../../scripts/quickstart/guard.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** A waiting shell (builtin read, no child); `quickstart` in its arguments makes /proc/PID/cmdline look like one. */
function sleeper(lookLikeQuickstart: boolean) {
  const args = lookLikeQuickstart ? ["-c", "read x", "scripts/quickstart.ts"] : ["-c", "read x"];
  const child = new Deno.Command("sh", { args, stdin: "piped", stdout: "null", stderr: "null" }).spawn();
  return {
    pid: child.pid,
    stop: async () => {
      await child.stdin.close();
      await child.status;
    },
  };
}

Deno.test("quick start guard: port, live lock, stale lock", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "acmems-quickstart-guard-" });
  try {
    await t.step("a busy port: refused naming ACMEMS_QUICKSTART_PORT, the work dir is not even created", async () => {
      const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        const port = (busy.addr as Deno.NetAddr).port;
        const error = await assertRejects(() => claimQuickstart(`${tmp}/a`, port));
        assert(error instanceof QuickstartBusy, String(error));
        assertStringIncludes(error.message, `127.0.0.1:${port} is already in use`);
        assertStringIncludes(error.message, `ACMEMS_QUICKSTART_PORT=${port + 1} deno task serve`);
        assertEquals(await exists(`${tmp}/a`), false);
      } finally {
        busy.close();
      }
    });

    await t.step("a lock held by a running quick start: refused naming its PID, the lock is kept", async () => {
      const holder = sleeper(true);
      try {
        await Deno.mkdir(`${tmp}/b`);
        await Deno.writeTextFile(`${tmp}/b/quickstart.lock`, `${holder.pid}\n`);
        const port = await freePort();
        const error = await assertRejects(() => claimQuickstart(`${tmp}/b`, port));
        assert(error instanceof QuickstartBusy, String(error));
        assertStringIncludes(error.message, `another quick start (PID ${holder.pid})`);
        assertStringIncludes(error.message, "ACMEMS_QUICKSTART_PORT");
        assertEquals((await Deno.readTextFile(`${tmp}/b/quickstart.lock`)).trim(), String(holder.pid));
      } finally {
        await holder.stop();
      }
    });

    await t.step("a stale lock (dead PID, or a PID now used by another program) is taken over", async () => {
      const dead = new Deno.Command("true").spawn();
      await dead.status;
      const other = sleeper(false);
      try {
        for (const pid of [dead.pid, other.pid]) {
          await Deno.mkdir(`${tmp}/c${pid}`);
          await Deno.writeTextFile(`${tmp}/c${pid}/quickstart.lock`, `${pid}\n`);
          const claim = await claimQuickstart(`${tmp}/c${pid}`, await freePort());
          assertEquals((await Deno.readTextFile(claim.lockFile)).trim(), String(Deno.pid));
          await claim.release();
          assert(!(await exists(claim.lockFile)), "release removes the lock");
        }
      } finally {
        await other.stop();
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
