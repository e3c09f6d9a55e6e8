/**
 * `npm run bench agent`: idle resident memory of the one `conegate up` process with a 100-peer map
 * (goal < 80 MB, issue 16). In a lab namespace: the real coordinator (memory store) with 100
 * synthetic nodes, then `conegate up --foreground` (mesh on, WireGuard device + TUN, 100 peers and
 * their routes); once `status` lists every peer, the agent idles and VmRSS is sampled from /proc.
 * Options: --peers=N (default 100), --idle-sec=S (default 20), --tsx (run the sources through tsx
 * instead of the bundle: the development path, whose loader thread alone costs ~70 MB).
 * Appliances run the bundle, so the shipped dist/conegate.js is what is measured by default.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from '../test/lab/lab.ts';

const ROOT = new URL('..', import.meta.url).pathname;

const opt = (args: string[], name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
/** A numeric field of /proc/<pid>/status ("VmRSS:  1234 kB" -> 1234, "Threads: 12" -> 12). */
const procField = (pid: number, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);

const mb = (k: number) => Math.round((k / 1024) * 10) / 10;

/** Where the resident memory is: /proc/<pid>/smaps_rollup split into anonymous (heaps, stacks) and file-backed (code, libraries). */
function rssBreakdown(pid: number): { anonMb: number; fileMb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { anonMb: mb(kb('Anonymous')), fileMb: mb(kb('Rss') - kb('Anonymous')) };
}

/** Thread names (comm) with their count: V8 platform workers, libuv pool, and any data-plane workers. */
function threadNames(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** `--env=K=V,K2=V2`: one more variant of the bundle with these environment variables (A/B of data-plane modes). */
function envVariant(args: string[]): Record<string, string> | undefined {
  const a = args.find((x) => x.startsWith('--env='));
  if (!a) return undefined;
  return Object.fromEntries(a.slice('--env='.length).split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

export async function run(args: string[]): Promise<object> {
  const peers = opt(args, 'peers', 100);
  const idleSec = opt(args, 'idle-sec', 20);
  // The shipped bundle (bench.sh builds dist/ first), or the sources through tsx with --tsx.
  const variants: { name: string; dev: boolean; env?: Record<string, string> }[] = args.includes('--tsx') ? [{ name: 'tsx (sources, development path)', dev: true }] : [{ name: 'bundle (dist/conegate.js, as shipped)', dev: false }];
  const extraEnv = envVariant(args);
  if (extraEnv) variants.push({ name: `bundle with ${JSON.stringify(extraEnv)}`, dev: false, env: extraEnv });
  const lab = await createLab({ servers: ['s1'] });
  const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'bench-agent-'));
  try {
    const addr = lab.addr('s1');
    const coord = lab.spawnNode('s1', 'test/lab/mesh-coordinator.ts', ['--listen', `${addr}:8443`, '--dir', dir, '--fake-nodes', String(peers)]);
    const ready = JSON.parse((await coord.waitForOutput(/\{"ready".*\}/, 300_000, 'stdout'))[0]) as { fingerprint: string; authKey: string; port: number };
    const cfg = join(dir, 'agent.json');
    // One state dir for every variant: the same machine key comes back as the same node.
    writeFileSync(cfg, JSON.stringify({ log: { level: 'warn' }, portmap: { enabled: false }, wg: { interface: `cgb${process.pid % 100000}` }, mesh: { enabled: true, coordinator: `https://${addr}:${ready.port}`, coordinatorFingerprint: ready.fingerprint, hostname: 'bench', stateDir: join(dir, 'state') } }));
    const rows = [];
    for (const v of variants) {
      const argv = (a: string[]) => (v.dev ? [process.execPath, '--import', 'tsx', join(ROOT, 'agent/src/cli/run.ts'), ...a] : [process.execPath, join(ROOT, 'bin/conegate.js'), ...a]);
      const agent = lab.spawn('s1', argv(['up', '--foreground', '--json', '--config', cfg, '--auth-key', ready.authKey]), { stopTimeoutMs: 10_000, ...(v.env ? { env: v.env } : {}) });
      await agent.waitForOutput(/"up":true/, 120_000, 'stdout');
      const deadline = Date.now() + 120_000;
      let listed = 0;
      while (Date.now() < deadline && listed !== peers) {
        const r = await lab.exec('s1', argv(['status', '--json', '--config', cfg]), { timeoutMs: 60_000 });
        listed = r.code === 0 ? (JSON.parse(r.stdout) as { mesh: { peers: unknown[] } }).mesh.peers.length : 0;
      }
      if (listed !== peers) throw new Error(`${v.name}: agent lists ${listed} of ${peers} peers`);
      // Idle on purpose: what the appliance pays while nothing happens (a benchmark, not a test).
      await new Promise((r) => setTimeout(r, idleSec * 1000));
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        samples.push(procField(agent.pid, 'VmRSS'));
        await new Promise((r) => setTimeout(r, 1000));
      }
      const hwm = procField(agent.pid, 'VmHWM');
      const threads = procField(agent.pid, 'Threads');
      const breakdown = rssBreakdown(agent.pid);
      const names = threadNames(agent.pid);
      await agent.stop();
      samples.sort((a, b) => a - b);
      rows.push({ variant: v.name, rssMb: { median: mb(samples[2]!), max: mb(samples[4]!) }, peakRssMb: mb(hwm), ...breakdown, osThreads: threads, threads: names, pass: mb(samples[2]!) < 80 });
    }
    await coord.stop();
    return { peers, idleSec, goalMb: 80, rows, node: process.version, note: 'shared 2-core machine (other test runs at the same time); worker threads (TUN reader, TUN writer, UDP sender) are ~10 MB each' };
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
