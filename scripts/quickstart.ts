/**
 * Quick start: a local test CA (pebble 2.10, resolving every name through pebble-challtestsrv to 127.0.0.1) and
 * acmems in front of it, so `curl --data-binary @host.csr http://127.0.0.1:PORT/sign` returns a certificate.
 *
 * Run: deno task serve   (Ctrl-C stops everything it started)
 * Environment: ACMEMS_QUICKSTART_PORT (management port, default 1313), ACMEMS_QUICKSTART_DIR (work dir, default
 * .work/quickstart in this checkout).
 *
 * It touches nothing it does not own: it needs only pebble's package (the system's 2.10, or a user-local copy that
 * scripts/install-quickstart-peers.sh unpacks into .work/peers/ without root), starts no system service, and
 * checks its port and lock (scripts/quickstart/guard.ts) before it changes any file, so a second `deno task serve`
 * leaves the first alone.
 */
import { runServe } from "../cli/serve.ts";
import { startPebble } from "../tests/support/pebble.ts";
import { freePort } from "../tests/support/ports.ts";
import { newHmacKey, QUICKSTART_PROFILE, quickstartConfig, readyText } from "./quickstart/config.ts";
import { claimQuickstart, PORT_VARIABLE, QuickstartBusy } from "./quickstart/guard.ts";
import { findPebble, startChalltestsrv } from "./quickstart/peers.ts";
import { signalExitCode, watchStopSignals } from "../src/ops/stop_signals.ts";

const root = new URL("../", import.meta.url).pathname;
const work = Deno.env.get("ACMEMS_QUICKSTART_DIR")?.replace(/\/+$/, "") || `${root}.work/quickstart`;

function mgmtPort(): number {
  const text = Deno.env.get(PORT_VARIABLE) ?? "1313";
  const port = Number(text);
  if (!/^[0-9]+$/.test(text) || port < 1 || port > 65535) {
    console.error(`deno task serve: ${PORT_VARIABLE}=${text} is not a port: use a number from 1 to 65535`);
    Deno.exit(2);
  }
  return port;
}

/** The HMAC key of earlier runs (scripts that use hmac.key keep working), or a new one. */
async function hmacKey(file: string): Promise<string> {
  const old = (await Deno.readTextFile(file).catch(() => "")).trim();
  if (/^[A-Za-z0-9_-]{16,64}$/.test(old)) return old;
  const key = newHmacKey();
  await Deno.writeTextFile(file, `${key}\n`, { mode: 0o600 });
  return key;
}

async function main(): Promise<number> {
  const port = mgmtPort();
  let claim;
  try {
    claim = await claimQuickstart(work, port);
  } catch (error) {
    if (!(error instanceof QuickstartBusy)) throw error;
    console.error(error.message);
    return 1;
  }
  const stops: (() => Promise<void>)[] = [claim.release];
  // Ctrl-C stops everything cleanly, whenever it comes (peers, temp dirs, lock): while the peers start, and while
  // everything stops after acmems serve has (its own handlers name the signal in its log, so this one is deferred).
  // The same Ctrl-C arriving twice (the process group, and `deno task` passing it on) is one request; a later one
  // stops at once (src/ops/stop_signals.ts).
  const interrupted = new AbortController();
  const releaseSignals = watchStopSignals({
    onStop: (signal) => setTimeout(() => interrupted.abort(signal), 0),
    onForce: (signal) => Deno.exit(signalExitCode(signal)),
  });
  stops.push(() => Promise.resolve(releaseSignals()));
  try {
    const peers = await findPebble(root);
    const dns = await startChalltestsrv(peers.challtestsrv);
    stops.unshift(dns.stop);
    const http01Port = await freePort();
    const pebble = await startPebble({
      bin: peers.pebble,
      dnsServer: dns.dnsServer,
      httpPort: http01Port,
      profiles: {
        [QUICKSTART_PROFILE.name]: { description: "90 days", validityPeriod: QUICKSTART_PROFILE.validityDays * 86_400 },
        shortlived: { description: "6 days", validityPeriod: 6 * 86_400 },
      },
    });
    stops.unshift(pebble.stop);
    console.error(`pebble: ${peers.origin}`);
    if (interrupted.signal.aborted) return 130;

    const config = `${work}/acmems.ini`;
    const hmacKeyFile = `${work}/hmac.key`;
    const settings = { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort: port, http01Port };
    await Deno.writeTextFile(config, quickstartConfig({ ...settings, hmacKey: await hmacKey(hmacKeyFile) }), {
      mode: 0o600,
    });
    await Deno.chmod(config, 0o600); // an older config may have been 0644
    // A new pebble forgets every account and certificate: start from a fresh account directory and cache.
    await Deno.remove(`${work}/account`, { recursive: true }).catch(() => {});
    await Deno.remove(`${work}/cache`, { recursive: true }).catch(() => {});

    return await runServe([config], {
      signal: interrupted.signal,
      onReady: () => console.log(readyText({ config, hmacKeyFile, mgmtPort: port })),
    });
  } catch (error) {
    if (interrupted.signal.aborted) return 130;
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  } finally {
    for (const stop of stops) await stop().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
