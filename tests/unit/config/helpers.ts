/** Builds configs from inline INI text with a fake machine environment, for table tests. */
import { parseIni } from "../../../src/config/ini.ts";
import { buildConfig } from "../../../src/config/build.ts";
import type { ConfigEnvironment } from "../../../src/config/environment.ts";
import type { ConfigResult } from "../../../src/config/types.ts";

export const BASE = `[account]
dir = /var/lib/acmems/account
accept-terms-of-service = yes
[auth "a"]
ip = 127.0.0.1
domain = *.example.org
`;

export function fakeEnvironment(files: Record<string, string> = {}): ConfigEnvironment {
  return {
    hostsText: "127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.1.1 myhost\n",
    interfaceNames: ["lo", "eth0"],
    readTextFile(path) {
      return path in files ? { text: files[path] } : { error: "no such file" };
    },
    fileExists(path) {
      return path in files;
    },
    resolvePath(path, configFile) {
      if (path.startsWith("/")) return path;
      return `${configFile.replace(/[^/]*$/, "")}${path}`;
    },
  };
}

/** Loads one or more inline files named a.ini, b.ini, ... */
export function load(texts: string | string[], files: Record<string, string> = {}): ConfigResult {
  const list = Array.isArray(texts) ? texts : [texts];
  const documents = list.map((text, i) => {
    const file = `/etc/acmems/${String.fromCharCode(97 + i)}.ini`;
    return { file, document: parseIni(text, file) };
  });
  return buildConfig(documents, fakeEnvironment(files));
}

/** "line: message" of every error, for compact assertions. */
export function errorLines(result: ConfigResult): string[] {
  return result.errors.map((e) => `${e.line}: ${e.message}`);
}
