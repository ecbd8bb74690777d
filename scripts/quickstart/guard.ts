/**
 * The quick start's guard against a second `deno task serve`: before it touches any file, the quick start checks
 * that its port is free and takes a lock file under its work dir holding its PID.
 *
 * Contract: `claimQuickstart` throws `QuickstartBusy` (a message naming ACMEMS_QUICKSTART_PORT and, when one holds
 * the lock, its PID) and then has changed nothing. A lock whose PID is dead (or is no quick start any more) is stale
 * and taken over. `release()` removes the lock only while it still holds this process's PID.
 */

/** The name of the environment variable that moves the quick start's management port. */
export const PORT_VARIABLE = "ACMEMS_QUICKSTART_PORT";

/** Why the quick start refuses to start; nothing was changed. */
export class QuickstartBusy extends Error {}

/** A claimed quick start: the lock file and how to give it back. */
export interface QuickstartClaim {
  lockFile: string;
  release(): Promise<void>;
}

/** The PID in a lock file when that process is alive and is a quick start; undefined otherwise (also: no file). */
export async function lockHolder(lockFile: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(lockFile);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === Deno.pid) return undefined;
  try {
    // /proc/PID/cmdline: NUL-separated arguments; a reused PID of another program does not count.
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return cmdline.includes("quickstart") ? pid : undefined;
  } catch {
    return undefined; // no such process
  }
}

function portBusy(port: number, holder: number | undefined): QuickstartBusy {
  const who = holder
    ? `the quick start with PID ${holder} is using it`
    : "another deno task serve, or another service, is using it";
  return new QuickstartBusy(
    `deno task serve: 127.0.0.1:${port} is already in use (${who}). Nothing was changed. ` +
      `Stop that one first, or choose another port: ${PORT_VARIABLE}=${port + 1} deno task serve`,
  );
}

function lockBusy(lockFile: string, holder: number): QuickstartBusy {
  return new QuickstartBusy(
    `deno task serve: another quick start (PID ${holder}) is running from this directory (lock ${lockFile}). ` +
      `Nothing was changed. Stop it first (Ctrl-C there, or kill ${holder}); ${PORT_VARIABLE} only changes the ` +
      `port, ACMEMS_QUICKSTART_DIR=<dir> runs a second one from another directory.`,
  );
}

/** Throws `portBusy` unless 127.0.0.1:port can be bound (it is closed again at once). */
function checkPort(port: number, holder: number | undefined): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) throw portBusy(port, holder);
    throw new QuickstartBusy(
      `deno task serve: cannot listen on 127.0.0.1:${port} (${error instanceof Error ? error.message : error}). ` +
        `Nothing was changed. Choose another port: ${PORT_VARIABLE}=1314 deno task serve`,
    );
  }
}

/** Checks the port, then takes `<work>/quickstart.lock` (creating `work`); throws `QuickstartBusy` otherwise. */
export async function claimQuickstart(work: string, port: number): Promise<QuickstartClaim> {
  const lockFile = `${work}/quickstart.lock`;
  checkPort(port, await lockHolder(lockFile));
  await Deno.mkdir(work, { recursive: true });
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.writeTextFile(lockFile, `${Deno.pid}\n`, { createNew: true });
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      const holder = await lockHolder(lockFile);
      if (holder) throw lockBusy(lockFile, holder);
      if (attempt > 0) throw new QuickstartBusy(`deno task serve: another quick start took ${lockFile} just now`);
      await Deno.remove(lockFile).catch(() => {}); // stale: its process is gone
    }
  }
  return {
    lockFile,
    release: async () => {
      const text = await Deno.readTextFile(lockFile).catch(() => "");
      if (text.trim() === String(Deno.pid)) await Deno.remove(lockFile).catch(() => {});
    },
  };
}
