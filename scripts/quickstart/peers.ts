/**
 * The quick start's peers: pebble 2.10 (the local test CA) and pebble-challtestsrv (the DNS server pebble's VA asks:
 * every name resolves to 127.0.0.1). Nothing else: no bind9, nginx or PostgreSQL.
 *
 * Contract: `findPebble` prefers the user-local copy scripts/install-quickstart-peers.sh unpacked into .work/peers/
 * (this checkout's own), then a system pebble 2.10 (Debian sid's package, as the tests use); otherwise it runs that
 * installer (which says what it installs, and asks on a terminal) and returns its copy, or throws saying what to run. `startChalltestsrv`
 * starts one on free loopback ports; `stop()` ends it and removes its temp dir.
 */
import { freePorts } from "../../tests/support/ports.ts";
import { removeWorkDir, retryOnAddressInUse, run, spawnLogged, stopOnFailure } from "../../tests/support/process.ts";

/** The pebble version the quick start (and the tests) are written for. */
export const PEBBLE_VERSION_PREFIX = "2.10.";

/** Paths of the two binaries of Debian's `pebble` package. */
export interface PebbleBinaries {
  pebble: string;
  challtestsrv: string;
  /** Where they come from, for the quick start's output. */
  origin: string;
}

async function executable(path: string): Promise<boolean> {
  const info = await Deno.stat(path).catch(() => undefined);
  return !!info?.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
}

async function systemPebble(): Promise<PebbleBinaries | undefined> {
  const dpkg = await run("dpkg-query", ["-W", "-f=${db:Status-Status} ${Version}", "pebble"]).catch(() => undefined);
  const [status, version] = (dpkg?.code === 0 ? dpkg.stdout.trim() : "").split(" ");
  if (status !== "installed" || !version?.startsWith(PEBBLE_VERSION_PREFIX)) return undefined;
  const found = { pebble: "/usr/bin/pebble", challtestsrv: "/usr/bin/pebble-challtestsrv" };
  if (!(await executable(found.pebble)) || !(await executable(found.challtestsrv))) return undefined;
  return { ...found, origin: `Debian package pebble ${version}` };
}

async function localPebble(peers: string): Promise<PebbleBinaries | undefined> {
  const version = (await Deno.readTextFile(`${peers}/VERSION`).catch(() => "")).trim();
  if (!version.startsWith(PEBBLE_VERSION_PREFIX)) return undefined;
  const found = { pebble: `${peers}/usr/bin/pebble`, challtestsrv: `${peers}/usr/bin/pebble-challtestsrv` };
  if (!(await executable(found.pebble)) || !(await executable(found.challtestsrv))) return undefined;
  return { ...found, origin: `pebble ${version} in ${peers}` };
}

/** pebble 2.10 and pebble-challtestsrv: installed, or unpacked into `<root>.work/peers` by the installer. */
export async function findPebble(root: string): Promise<PebbleBinaries> {
  const peers = `${root}.work/peers`;
  const found = await localPebble(peers) ?? await systemPebble();
  if (found) return found;
  const installer = `${root}scripts/install-quickstart-peers.sh`;
  console.error(
    `The quick start needs pebble ${PEBBLE_VERSION_PREFIX}x and pebble-challtestsrv; running ${installer}:`,
  );
  const status = await new Deno.Command("bash", { args: [installer] }).spawn().status;
  const local = status.success ? await localPebble(peers) : undefined;
  if (!local) {
    throw new Error(
      `deno task serve: pebble ${PEBBLE_VERSION_PREFIX}x is not available. Run bash scripts/install-quickstart-peers.sh ` +
        `(no root needed: it unpacks Debian sid's pebble package into .work/peers/), then deno task serve again.`,
    );
  }
  return local;
}

/** A running pebble-challtestsrv answering DNS on `dnsServer`. */
export interface Challtestsrv {
  /** "127.0.0.1:PORT", for pebble's -dnsserver. */
  dnsServer: string;
  stop(): Promise<void>;
}

/** Starts pebble-challtestsrv with DNS only (every A query: 127.0.0.1; no AAAA), on free loopback ports. */
export async function startChalltestsrv(bin: string): Promise<Challtestsrv> {
  return await retryOnAddressInUse(true, async () => {
    const dir = await Deno.makeTempDir({ prefix: "acmems-challtestsrv-" });
    try {
      const [dnsPort, managementPort] = await freePorts(2);
      const proc = spawnLogged({
        name: "pebble-challtestsrv",
        command: bin,
        args: [
          ...["-dnsserver", `127.0.0.1:${dnsPort}`, "-management", `127.0.0.1:${managementPort}`],
          ...["-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""],
          ...["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
        ],
        logFile: `${dir}/challtestsrv.log`,
        workDir: dir,
        cwd: dir,
      });
      await stopOnFailure(proc, () =>
        proc.waitFor(async (signal) => {
          // Any HTTP answer on the management port: it is up (its DNS listener starts before it).
          const response = await fetch(`http://127.0.0.1:${managementPort}/`, { signal });
          await response.body?.cancel();
          return true;
        }, { failOn: /address already in use/ }));
      return {
        dnsServer: `127.0.0.1:${dnsPort}`,
        stop: async () => {
          await proc.stop();
          await removeWorkDir(dir);
        },
      };
    } catch (error) {
      await removeWorkDir(dir);
      throw error;
    }
  });
}
