/**
 * Relay memory with idle clients: `conegate relay serve` (the bundle, self-signed TLS, an allow file) in
 * a child process, RSS at start, then with --idle N clients logged in over TLS and silent (default
 * 1,000; the goal: < 150 MB), sampled after --settle-ms (default 2,000) so the heap has
 * settled, and per client. Unlike `bench relay`, no throughput run comes first, so the figure is what
 * idle clients cost and not what a blast left behind in the heap.
 *   npm run bench relay-idle [-- --idle 1000 --settle-ms 2000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dialRelay, type RelayLink } from '../agent/src/relay/mesh/dial.ts';
import { newNode } from '../agent/src/relay/server/testing.ts';
import { conegateArgv, conegateEnv } from '../test/conegate.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 102.4) / 10;
}

export async function run(args: string[]): Promise<unknown> {
  const idle = arg(args, 'idle', 1000);
  const settleMs = arg(args, 'settle-ms', 2000);
  const dir = mkdtempSync(join(tmpdir(), 'relay-idle-'));
  const nodes = Array.from({ length: idle }, newNode);
  const relay = await startRelayProcess(dir, nodes.map((n) => n.hex));
  const child = relay.child;
  const links: RelayLink[] = [];
  try {
    const settle = () => new Promise((r) => setTimeout(r, settleMs));
    await settle();
    const rssStart = rssMb(child.pid!);
    for (let i = 0; i < nodes.length; i += 50) {
      links.push(...(await Promise.all(nodes.slice(i, i + 50).map((n) => dialRelay({ url: relay.url, trust: { fingerprint: relay.fingerprint }, secret: n.secret })))));
    }
    await settle();
    const rssIdle = rssMb(child.pid!);
    return {
      note: 'shared 2-core machine; RSS depends little on load, but the heap has not necessarily been collected at the sample',
      idleClients: idle,
      rssMbAtStart: rssStart,
      rssMbWithIdleClients: rssIdle,
      kbPerClient: idle ? Math.round(((rssIdle - rssStart) * 1024) / idle) : 0,
    };
  } finally {
    for (const l of links) l.close();
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `conegate relay serve` (the bundle, self-signed, admitting `keys`) in a child process; resolves with its URL and pin. */
export async function startRelayProcess(dir: string, keys: string[]): Promise<{ child: ChildProcess; url: string; fingerprint: string }> {
  const allow = join(dir, 'allow');
  writeFileSync(allow, keys.join('\n') + '\n');
  const argv = conegateArgv(['relay', 'serve', '--listen', '127.0.0.1:0', '--self-signed', '--state-dir', join(dir, 'state'), '--admission-allow-file', allow, '--json']);
  const child = spawn(argv[0]!, argv.slice(1), { env: conegateEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  const info = await new Promise<{ listen: string; fingerprint: string }>((resolve, reject) => {
    child.stdout!.on('data', (c: string) => {
      out += c;
      try {
        resolve(JSON.parse(out));
      } catch {
        // not the whole document yet
      }
    });
    child.once('exit', (code) => reject(new Error(`relay serve exited ${code}`)));
  });
  return { child, url: `https://${info.listen}`, fingerprint: info.fingerprint };
}
