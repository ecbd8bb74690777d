/**
 * Starts nginx as the http-01 front a real site would have: it forwards `/.well-known/acme-challenge/` to one or
 * more acmems instances and tries the next one when an instance answers 404 (it does not know the token).
 */
import { freePort } from "./ports.ts";
import {
  removeWorkDir,
  requireExecutable,
  retryOnAddressInUse,
  runChecked,
  spawnLogged,
  stopOnFailure,
} from "./process.ts";

/** Where Debian installs nginx. */
export const NGINX_BIN = "/usr/sbin/nginx";

/** Options for `startNginx`. */
export interface NginxOptions {
  /** Listen port on 127.0.0.1 and [::1] (default: a free one; usually pebble's `httpPort`). */
  port?: number;
  /** Upstream responders, "127.0.0.1:PORT" or "[::1]:PORT", tried in round-robin order. At least one. */
  upstreams: string[];
  /** Readiness timeout (default 20 000 ms). */
  startTimeoutMs?: number;
}

/** A running nginx. Stop it with `stop()` (or `await using`). */
export interface Nginx extends AsyncDisposable {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The temp dir holding config, temp paths and log; removed by `stop()`. */
  dir: string;
  pid: number;
  /** Error log and access log share one file; access lines show `upstream=` and `upstream_status=`. */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground (`-g 'daemon off;'`) after `nginx -t`, and waits until both listeners answer. */
export async function startNginx(opts: NginxOptions): Promise<Nginx> {
  if (opts.upstreams.length === 0) throw new Error("startNginx: at least one upstream is required");
  for (const u of opts.upstreams) {
    if (!/^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/.test(u)) {
      throw new Error(`startNginx: upstream "${u}" is not loopback IP:PORT`);
    }
  }
  return await retryOnAddressInUse(opts.port === undefined, () => startOnce(opts));
}

async function startOnce(opts: NginxOptions): Promise<Nginx> {
  await requireExecutable(NGINX_BIN);
  const dir = await Deno.makeTempDir({ prefix: "acmems-nginx-" });
  try {
    // When run as root the worker runs as "nobody" and must reach the temp paths below.
    await Deno.chmod(dir, 0o755);
    await Deno.mkdir(`${dir}/tmp`, { mode: 0o755 }); // nginx creates only the last path component
    const port = opts.port ?? await freePort();
    const instanceId = crypto.randomUUID();
    const confFile = `${dir}/nginx.conf`;
    const logFile = `${dir}/nginx.log`;
    await Deno.writeTextFile(confFile, nginxConf(dir, logFile, port, opts.upstreams, instanceId));
    // -e: without it nginx first opens /var/log/nginx/error.log, which a non-root user cannot.
    const base = ["-p", `${dir}/`, "-c", confFile, "-e", logFile];
    await runChecked(NGINX_BIN, [...base, "-t", "-q"]);

    const proc = spawnLogged({
      name: "nginx",
      command: NGINX_BIN,
      args: [...base, "-g", "daemon off;"],
      logFile,
      workDir: dir,
    });
    const url = `http://127.0.0.1:${port}`;
    await stopOnFailure(proc, () =>
      proc.waitFor(async (signal) => {
        // A per-start answer, so another server on the port cannot pass the probe.
        for (const base of [url, `http://[::1]:${port}`]) {
          if (await httpGet(`${base}/.acmems-fixture`, signal) !== instanceId) return false;
        }
        return true;
      }, { timeoutMs: opts.startTimeoutMs, probeTimeoutMs: 500, failOn: /address already in use|\[emerg\]/i }));

    let stopped: Promise<void> | undefined;
    const stop = () =>
      stopped ??= (async () => {
        await proc.stop();
        await removeWorkDir(dir);
      })();
    return {
      port,
      url,
      dir,
      pid: proc.pid,
      logTail: (lines) => proc.logTail(lines),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    await removeWorkDir(dir);
    throw e;
  }
}

function nginxConf(dir: string, logFile: string, port: number, upstreams: string[], instanceId: string): string {
  // max_fails=0: otherwise nginx marks an upstream that just refused a connection as down for 10 s
  // (fail_timeout), which breaks tests that restart an acmems instance.
  const servers = upstreams.map((u) => `    server ${u} max_fails=0;\n`).join("");
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${logFile} info;
events { worker_connections 64; }
http {
  log_format fixture '$remote_addr "$request" $status host=$http_host '
                     'upstream=$upstream_addr upstream_status=$upstream_status';
  access_log ${logFile} fixture;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream acme_responders {
${servers}  }
  server {
    listen 127.0.0.1:${port};
    listen [::1]:${port};
    server_name _;
    location /.well-known/acme-challenge/ {
      proxy_pass http://acme_responders;
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_404;
      proxy_connect_timeout 2s;
    }
    location = /.acmems-fixture { return 200 "${instanceId}"; }
    location / { return 404; }
  }
}
`;
}

/** GET with a private HttpClient (closed afterwards), aborted by `signal`; returns the body of a 200, else "". */
async function httpGet(url: string, signal: AbortSignal): Promise<string> {
  const client = Deno.createHttpClient({});
  try {
    const res = await fetch(url, { client, signal });
    const text = await res.text();
    return res.status === 200 ? text : "";
  } finally {
    client.close();
  }
}
