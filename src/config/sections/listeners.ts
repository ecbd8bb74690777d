/**
 * Listener addresses: `listener =` values turned into addresses (names through the hosts file only, never DNS;
 * `0.0.0.0:P` beside `[::]:P` collapsed, as Deno's `[::]` socket is dual-stack), and the check that no two
 * listeners of different owners ([mgmt], its metrics, each http01 verification) overlap. Pure.
 */
import type { IniEntry } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { type Diagnostics, where } from "../diagnostics.ts";
import type { ListenAddress, MgmtConfig, Source, VerificationConfig } from "../types.ts";
import { formatListen, lookupHostsFile, parseListenTarget } from "../values.ts";

/** Turns `listener =` entries into addresses: names via the hosts file, `0.0.0.0:P` + `[::]:P` collapsed. */
export const resolveListeners =
  (function resolveListeners(entries: IniEntry[], env: ConfigEnvironment, diag: Diagnostics): ListenAddress[] {
    const out: ListenAddress[] = [];
    const add = (family: 4 | 6, hostname: string, port: number, source: Source, zone?: string) => {
      const display = formatListen(family, hostname, port);
      const duplicate = out.find((l) => l.display === display);
      if (duplicate) {
        diag.warn(source, `Listener ${display} is listed twice (also at ${where(duplicate.source)}); it is used once`);
        return;
      }
      const listener: ListenAddress = { hostname, port, display, source };
      if (zone !== undefined) listener.zone = zone;
      out.push(listener);
    };
    for (const entry of entries) {
      const parsed = parseListenTarget(entry.value);
      if ("error" in parsed) {
        diag.error(entry.source, `${entry.key}: ${parsed.error}`);
        continue;
      }
      const target = parsed.value;
      if (target.kind === "name") {
        const addresses = lookupHostsFile(env.hostsText, target.name);
        if (addresses.length === 0) {
          diag.error(
            entry.source,
            `${entry.key}: "${target.name}" is not in the hosts file; acmems does not ask DNS for listen addresses, ` +
              "so write the IP address",
          );
          continue;
        }
        for (const address of addresses) {
          const resolved = parseListenTarget(
            address.includes(":") ? `[${address}]:${target.port}` : `${address}:${target.port}`,
          );
          if ("value" in resolved && resolved.value.kind === "ip") {
            add(resolved.value.family, resolved.value.hostname, target.port, entry.source, resolved.value.zone);
          }
        }
        continue;
      }
      if (target.zone !== undefined && env.interfaceNames !== null && !/^[0-9]+$/.test(target.zone)) {
        if (!env.interfaceNames.includes(target.zone)) {
          diag.warn(
            entry.source,
            `${entry.key}: network interface "${target.zone}" of ${entry.value} does not exist on this machine; ` +
              "it must exist where acmems serves",
          );
        }
      }
      add(target.family, target.hostname, target.port, entry.source, target.zone);
    }
    // Deno's [::] socket is dual-stack, so binding 0.0.0.0:P as well fails with AddrInUse.
    for (const any6 of out.filter((l) => l.hostname === "::")) {
      const any4 = out.findIndex((l) => l.hostname === "0.0.0.0" && l.port === any6.port);
      if (any4 >= 0) {
        // A warning, not a note: the operator wrote two listeners and gets one; remove 0.0.0.0:P to silence it.
        diag.warn(
          out[any4].source,
          `Listeners 0.0.0.0:${any6.port} and [::]:${any6.port} collapse into one [::]:${any6.port} listener, ` +
            `which accepts IPv4 and IPv6 (dual-stack); remove 0.0.0.0:${any6.port}`,
        );
        out.splice(any4, 1);
      }
    }
    return out;
  }).bind(null);

/** Reports listeners of different owners that would bind the same port on overlapping addresses. */
export const checkListenerClashes = (function checkListenerClashes(
  mgmt: MgmtConfig,
  verifications: Map<string, VerificationConfig>,
  diag: Diagnostics,
): void {
  const owners: { owner: string; listener: ListenAddress }[] = mgmt.listeners.map((listener) => ({
    owner: "[mgmt]",
    listener,
  }));
  for (const listener of mgmt.metricsListeners) owners.push({ owner: "[mgmt] metrics-listener", listener });
  for (const v of verifications.values()) {
    if (v.type !== "http01") continue;
    for (const listener of v.listeners) owners.push({ owner: `[verification "${v.name}"]`, listener });
  }
  for (let i = 0; i < owners.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = owners[j];
      const b = owners[i];
      if (a.owner === b.owner || a.listener.port !== b.listener.port) continue;
      const same = a.listener.hostname === b.listener.hostname;
      const overlaps = same || a.listener.hostname === "::" || b.listener.hostname === "::" ||
        (a.listener.hostname === "0.0.0.0" && !b.listener.hostname.includes(":")) ||
        (b.listener.hostname === "0.0.0.0" && !a.listener.hostname.includes(":"));
      if (overlaps) {
        // Report at the line the operator wrote, not at an implied default.
        const [here, there] = b.listener.source.line === 0 ? [a, b] : [b, a];
        const thereText = there.listener.source.line === 0 ? "its default" : where(there.listener.source);
        diag.error(
          here.listener.source,
          `${here.owner} listener ${here.listener.display} overlaps ${there.owner} listener ${there.listener.display} ` +
            `(${thereText}): give them different ports`,
        );
      }
    }
  }
}).bind(null);
