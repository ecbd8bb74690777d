/** tests/support/client_run.ts: a clean environment, captured output, and a child stopped by PID at its limit. */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { assertSucceeded, runClient } from "../../support/client_run.ts";

Deno.test("runClient: only the given environment, HOME as cwd, stdout then stderr", async () => {
  const home = await Deno.makeTempDir({ prefix: "acmems-client-run-" });
  try {
    Deno.env.set("ACMEMS_CLIENT_RUN_LEAK", "1");
    const r = await runClient("/bin/sh", ["-c", 'echo "$PWD $HOME ${ACMEMS_CLIENT_RUN_LEAK:-none} $X"; echo err >&2'], {
      home,
      env: { X: "given" },
    });
    assertEquals(r.code, 0);
    assertEquals(r.output, `${home} ${home} none given\nerr\n`);
    assertEquals(r.timedOut, false);
  } finally {
    Deno.env.delete("ACMEMS_CLIENT_RUN_LEAK");
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("runClient: a child past its limit is stopped and reported; assertSucceeded names the command", async () => {
  const home = await Deno.makeTempDir({ prefix: "acmems-client-run-" });
  try {
    const r = await runClient("/bin/sleep", ["60"], { home, env: {}, timeoutMs: 100 });
    assert(r.timedOut, "the time limit must stop it");
    assertThrows(() => assertSucceeded(r, "sleeper"), /^sleeper was stopped after its time limit: \/bin\/sleep 60/);
    const failed = await runClient("/bin/sh", ["-c", "echo nope; exit 3"], { home, env: {} });
    const e = assertThrows(() => assertSucceeded(failed, "sh"), /^sh exited with 3/);
    assertStringIncludes(e.message, "nope");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
