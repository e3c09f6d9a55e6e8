/**
 * Coordinator benchmark: `conegate coord serve` (SQLite, self-signed TLS) with 100 and then 1,000
 * simulated nodes over real HTTPS connections (test/fakes/coord-sim.ts in a child process), 10 endpoint
 * changes a second: change-to-delivery latency (p50/p99, from the node's request to every other node's
 * stream), coordinator CPU (% of one core over the change phase, from /proc) and RSS, and bytes per
 * change (per receiving node: must not grow with the number of nodes; headscale rebuilds every map per
 * change). Goal on the 2-core machine: p99 < 2 s, CPU < 50% of one core.
 *   npm run bench coord [-- --nodes 100,1000 --seconds 30]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AdminClient } from '../agent/src/coord/client/admin.ts';
import { startCoordProcess } from '../test/fakes/coord-process.ts';

const SIM = new URL('../test/fakes/coord-sim.ts', import.meta.url).pathname;
const TICKS_PER_SEC = 100;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SEC;
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}
function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

async function one(count: number, seconds: number, rate: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'coord-bench-'));
  const coord = await startCoordProcess({ db: join(dir, 'db'), adminSocket: join(dir, 'admin.sock'), extra: ['--register-limit', '100000:100000'] });
  try {
    const secret = (await new AdminClient({ socketPath: coord.adminSocket }).post<{ secret: string }>('/admin/authkeys', { reusable: true })).secret;
    const child = spawn(process.execPath, ['--import', 'tsx', SIM, coord.host, String(coord.port), coord.fingerprint, secret, String(count), String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let cpu0 = 0;
    let t0 = 0;
    let cpuPct = -1;
    let rssAfterConnect = 0;
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('phase changes-start') && t0 === 0) {
        cpu0 = cpuMs(coord.pid);
        t0 = performance.now();
        rssAfterConnect = rssMb(coord.pid);
      }
      if (out.includes('phase changes-end') && cpuPct < 0) cpuPct = Math.round(((cpuMs(coord.pid) - cpu0) / (performance.now() - t0)) * 1000) / 10;
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (code !== 0 || !line) throw new Error(`simulated nodes failed (${code}): ${out.slice(-500)}`);
    return { ...JSON.parse(line), coordCpuPctOfOneCore: cpuPct, coordRssMb: rssMb(coord.pid), coordRssMbAfterConnect: rssAfterConnect };
  } finally {
    await coord.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<unknown> {
  const counts = arg(args, 'nodes', '100,1000').split(',').map(Number);
  const seconds = Number(arg(args, 'seconds', '30'));
  const rate = 10;
  const runs = [];
  for (const n of counts) runs.push(await one(n, seconds, rate));
  return {
    changesPerSec: rate,
    seconds,
    runs,
    goal: { p99Ms: 2000, cpuPctOfOneCore: 50 },
    note: 'shared 2-core machine with other load: timings are noisy',
  };
}
