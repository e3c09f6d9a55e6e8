/**
 * A throwaway PostgreSQL server for tests (store compliance, durability, coordinator replicas, the lab
 * acceptance): Debian's `postgresql` binaries, a fresh cluster in a temp dir, listening on 127.0.0.1
 * at a free port and on a unix socket in that dir (reachable from inside lab namespaces, which share
 * the filesystem but not the loopback). Started by PID, stopped by PID; a missing binary fails naming
 * the package. Running as root, the cluster belongs to the `postgres` user (initdb refuses root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { recordPid } from '../lab/proc.ts';

export interface PostgresServer {
  /** postgres://conegate:PW@127.0.0.1:PORT/postgres (the superuser, over TCP). */
  url: string;
  /** The same over the unix socket: postgres://conegate:PW@/postgres?host=DIR&port=PORT. */
  socketUrl: string;
  port: number;
  /** PID of the postmaster. */
  pid: number;
  /** Creates an empty database and returns its TCP URL. */
  createDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** SIGKILL of the postmaster (a crash), then start again on the same data dir and port. */
  crashAndRestart(): Promise<void>;
  /** Fast shutdown by PID (SIGINT), bounded; removes the cluster. Idempotent. */
  stop(): Promise<void>;
}

const PACKAGE = 'postgresql';
const USER = 'conegate';

/** /usr/lib/postgresql/<newest>/bin, or an error naming the Debian package. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`missing initdb/postgres: apt-get install -y --no-install-recommends ${PACKAGE} (or bash scripts/setup.sh)`);
  return join(root, newest, 'bin');
}

function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error(`running as root needs the postgres user: apt-get install -y --no-install-recommends ${PACKAGE}`);
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res, rej) => srv.once('error', rej).listen(0, '127.0.0.1', res));
  const port = (srv.address() as { port: number }).port;
  await new Promise((res) => srv.close(res));
  return port;
}

/** Starts a fresh cluster; resolves once it accepts connections (bounded by `timeoutMs`). */
export async function startPostgres(options: { timeoutMs?: number } = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const as = owner();
  const dir = mkdtempSync(join(tmpdir(), 'conegate-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (as) {
    chownSync(dir, as.uid, as.gid);
    chownSync(pwfile, as.uid, as.gid);
  }
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', USER, '--pwfile', pwfile, '--auth', 'scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
    encoding: 'utf8',
    timeout: 120_000,
    ...(as ?? {}),
  });
  rmSync(pwfile, { force: true });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr.slice(-2000)}`);
  }
  let child: ChildProcess | undefined;
  let port = 0;
  const boot = async (keepPort: boolean): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      port = port || (await freePort());
      try {
        child = await launch(bin, data, dir, port, as, options.timeoutMs ?? 60_000);
        return;
      } catch (err) {
        // Another program may have taken the free port between the probe and postgres binding it.
        if (attempt >= 3) throw err;
        if (!keepPort) port = 0;
      }
    }
  };
  try {
    await boot(false);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const base = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const admin = async (sql: string): Promise<void> => {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: `${base}/postgres` });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  let stopped = false;
  const server: PostgresServer = {
    get url() {
      return `${base}/postgres`;
    },
    get socketUrl() {
      return `postgres://${USER}:${encodeURIComponent(password)}@/postgres?host=${encodeURIComponent(dir)}&port=${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return child?.pid ?? 0;
    },
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      await admin(`CREATE DATABASE ${name}`);
      return `${base}/${name}`;
    },
    dropDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name ${name}`);
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    crashAndRestart: async () => {
      // The whole server dies at once, as in an OOM kill or power cut: the postmaster and every
      // backend, each by its PID (an orphaned backend would keep the shared memory and block restart).
      const backends = childPids(child?.pid);
      await stopChild(child, 'SIGKILL', 10_000);
      for (const pid of backends) killQuietly(pid);
      await waitGone(backends, 10_000);
      await boot(true);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopChild(child, 'SIGINT', 20_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Spawns the postmaster and waits for "ready to accept connections" on its log (stderr). */
function launch(bin: string, data: string, sockDir: string, port: number, as: { uid: number; gid: number } | undefined, timeoutMs: number): Promise<ChildProcess> {
  const args = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${sockDir}`, '-c', 'fsync=on', '-c', 'max_connections=200'];
  const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(as ?? {}) });
  if (child.pid) recordPid(child.pid, `postgres -p ${port}`);
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      void stopChild(child, 'SIGKILL', 5000);
      reject(new Error(`postgres did not become ready within ${timeoutMs} ms: ${log.slice(-2000)}`));
    }, timeoutMs);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      // Keep draining the log for the server's whole life so a full pipe never blocks it.
      if (log.length < 64 * 1024) log += chunk;
      if (/ready to accept connections/.test(log) && timer.hasRef()) {
        clearTimeout(timer);
        timer.unref();
        resolve(child);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      if (!timer.hasRef()) return;
      clearTimeout(timer);
      timer.unref();
      reject(new Error(`postgres exited (${code ?? signal}) before it was ready: ${log.slice(-2000)}`));
    });
  });
}

/** Signals the process by PID and waits (bounded) for it to exit; SIGKILL if it outlives the bound. */
async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals, boundMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  process.kill(child.pid, signal);
  const late = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, boundMs);
  await exited;
  clearTimeout(late);
}

/** PIDs of the direct children of `pid` (Linux /proc). */
function childPids(pid: number | undefined): number[] {
  if (!pid) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Bounded wait until none of the PIDs exists any more. */
async function waitGone(pids: number[], boundMs: number): Promise<void> {
  const until = Date.now() + boundMs;
  const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  while (pids.some((p) => { try { return alive(p); } catch { return false; } })) {
    if (Date.now() > until) throw new Error(`postgres processes ${pids.join(' ')} still alive after SIGKILL`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
