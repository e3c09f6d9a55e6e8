/**
 * Just enough namespace handling for the WireGuard interop tests: namespaces named with the run's
 * prefix (CONEGATE_LAB_PREFIX), veth pairs, commands and long-running processes inside a namespace,
 * every started process recorded in CONEGATE_LAB_RUNDIR/pids (the test runner checks it) and ended by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PREFIX = process.env.CONEGATE_LAB_PREFIX ?? `cg${(process.pid % 46656).toString(36)}`;

/** Fails with the Debian package to install when a peer program is missing. */
export async function requireTool(cmd: string, pkg: string): Promise<void> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
  } catch {
    throw new Error(`${cmd} not found: install it with apt-get install -y --no-install-recommends ${pkg} (scripts/setup.sh)`);
  }
}

export async function sh(cmd: string, args: string[], timeoutMs = 15_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

export class Netns {
  private readonly procs: ChildProcess[] = [];
  private constructor(readonly name: string) {}

  static async create(suffix: string): Promise<Netns> {
    const ns = new Netns(`${PREFIX}-${suffix}`);
    await sh('ip', ['netns', 'add', ns.name]);
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  exec(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args], timeoutMs);
  }

  /** Starts a long-running process in the namespace; its output is kept for failure messages. */
  spawn(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(child);
    const dir = process.env.CONEGATE_LAB_RUNDIR;
    if (dir && child.pid) appendFileSync(join(dir, 'pids'), `${child.pid} ${cmd} in ${this.name}\n`);
    return new Proc(child);
  }

  /** Ends this namespace's processes (by PID) and deletes it. */
  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProcess(p)));
    await sh('ip', ['netns', 'del', this.name]).catch(() => undefined);
  }
}

export class Proc {
  output = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Resolves once `re` appears in the output; rejects on exit or after timeoutMs. */
  waitFor(re: RegExp, timeoutMs = 10_000): Promise<void> {
    return waitUntil(() => re.test(this.output), timeoutMs, () => `output never matched ${re}:\n${this.output}`, this.exited);
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return stopProcess(this.child, signal);
  }
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** Polls a condition every 50 ms until it holds; rejects after timeoutMs (or when `abort` settles first). */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
  abort?: Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let aborted = false;
  void abort?.then(() => (aborted = true));
  for (;;) {
    if (await cond()) return;
    if (aborted) throw new Error(`process exited: ${what()}`);
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A veth pair between two namespaces, each end addressed. */
export async function veth(a: Netns, aAddrs: string[], b: Netns, bAddrs: string[], name = 'veth'): Promise<void> {
  const an = `${name}a`;
  const bn = `${name}b`;
  await sh('ip', ['link', 'add', an, 'netns', a.name, 'type', 'veth', 'peer', 'name', bn, 'netns', b.name]);
  for (const [ns, ifn, addrs] of [[a, an, aAddrs], [b, bn, bAddrs]] as const) {
    for (const addr of addrs) await ns.exec('ip', addr.includes(':') ? ['-6', 'addr', 'add', addr, 'dev', ifn, 'nodad'] : ['addr', 'add', addr, 'dev', ifn]);
    await ns.exec('ip', ['link', 'set', ifn, 'up']);
  }
}
