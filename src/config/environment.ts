/**
 * What a config needs to know about the machine (`ConfigEnvironment`), so the builders stay pure and tests pass
 * fakes; and the one such fact read here: whether a path is on a network filesystem (/proc/self/mountinfo).
 */

/** What a config needs to know about the machine. */
export interface ConfigEnvironment {
  /** Contents of /etc/hosts (for `localhost:1313`-style listeners); no DNS is ever asked. */
  hostsText: string;
  /** Names of the local network interfaces, or null when unknown (then zone ids are not checked). */
  interfaceNames: string[] | null;
  /** Reads a text file (TSIG key files); null when it cannot be read, with the reason. */
  readTextFile(path: string): { text: string } | { error: string };
  /** Whether a file exists (ca-file: a warning when it does not). */
  fileExists(path: string): boolean;
  /** Resolves a path written in a config file, relative to that file's directory. */
  resolvePath(path: string, configFile: string): string;
  /**
   * A file's permission bits (`stat` mode), or null when unknown: files holding secrets are checked for group and
   * world read access. Absent (fakes, tests): not checked.
   */
  fileMode?(path: string): number | null;
  /** The network filesystem type a path is on, or null (default: read /proc/self/mountinfo). */
  networkFilesystem?(path: string): string | null;
}

/** Filesystem types whose locks are not cluster locks (or not locks at all). */
const NETWORK_FILESYSTEMS =
  /^(nfs4?|cifs|smb3?|smbfs|ceph|glusterfs|afs|lustre|9p|davfs|fuse\.(sshfs|glusterfs|s3fs|rclone|gcsfuse|davfs2?))$/;

/**
 * The type of the network filesystem `path` is on (longest mount point in /proc/self/mountinfo that contains it),
 * or null (local, unknown, or no /proc). Best effort: the path need not exist yet.
 */
export const networkFilesystem = (function networkFilesystem(path: string, mountInfo?: string): string | null {
  let text = mountInfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/mountinfo");
    } catch {
      return null;
    }
  }
  let best: { point: string; type: string } | null = null;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (fields.length < 5 || dash < 0 || dash + 1 >= fields.length) continue;
    const point = fields[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === "/" || path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, type: fields[dash + 1] };
  }
  return best && NETWORK_FILESYSTEMS.test(best.type) ? best.type : null;
}).bind(null);
