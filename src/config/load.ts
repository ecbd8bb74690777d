/**
 * Reads config files from disk and builds the typed config: the I/O edge of src/config.
 */
import { dirname, isAbsolute, join, normalize } from "../lib/path.ts";
import { parseIni } from "./ini.ts";
import { buildConfig } from "./build.ts";
import type { ConfigEnvironment } from "./environment.ts";
import type { ConfigResult, Diagnostic } from "./types.ts";

/** The real machine: /etc/hosts, network interfaces, files relative to each config file. */
export const systemEnvironment = (function systemEnvironment(): ConfigEnvironment {
  let hostsText = "";
  try {
    hostsText = Deno.readTextFileSync("/etc/hosts");
  } catch {
    // No hosts file: only "localhost" resolves (to 127.0.0.1 and ::1).
  }
  let interfaceNames: string[] | null = null;
  try {
    interfaceNames = [...new Set(Deno.networkInterfaces().map((i) => i.name))];
  } catch {
    interfaceNames = null;
  }
  return {
    hostsText,
    interfaceNames,
    readTextFile(path) {
      try {
        return { text: Deno.readTextFileSync(path) };
      } catch (error) {
        return { error: describeFsError(error) };
      }
    },
    fileExists(path) {
      try {
        Deno.statSync(path);
        return true;
      } catch {
        return false;
      }
    },
    fileMode(path) {
      try {
        return Deno.statSync(path).mode;
      } catch {
        return null;
      }
    },
    resolvePath,
  };
}).bind(null);

/** A path in a config file is relative to that file's directory. */
export const resolvePath = (function resolvePath(path: string, configFile: string): string {
  if (isAbsolute(path)) return normalize(path);
  return normalize(join(dirname(absolute(configFile)), path));
}).bind(null);

const absolute = (function absolute(path: string): string {
  return isAbsolute(path) ? path : join(Deno.cwd(), path);
}).bind(null);

export const describeFsError = (function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof TypeError && /UTF-8|utf-8/.test(error.message)) return "it is not UTF-8 text";
  return error instanceof Error ? error.message : String(error);
}).bind(null);

/** Reads and validates the given config files, in order. Never throws for bad input. */
export const loadConfig =
  (async function loadConfig(paths: string[], env: ConfigEnvironment = systemEnvironment()): Promise<ConfigResult> {
    const documents = [];
    const readErrors: Diagnostic[] = [];
    for (const path of paths) {
      let text: string;
      try {
        const bytes = await Deno.readFile(path);
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch (error) {
        const reason = error instanceof TypeError ? "it is not UTF-8 text" : describeFsError(error);
        readErrors.push({ file: path, line: 0, message: `Cannot read config file ${path}: ${reason}` });
        continue;
      }
      documents.push({ file: path, document: parseIni(text, path) });
    }
    if (readErrors.length > 0) return { ok: false, errors: readErrors, warnings: [], notes: [] };
    return buildConfig(documents, env);
  }).bind(null);
