/**
 * Start-up cost of the shipped bundle (`npm run bench startup [--runs N]`): wall time of
 * `conegate --help` and peak RSS of short commands beside plain `node -e 0` (the floor no Node
 * program gets under), the same through tsx (CONEGATE_DEV=1, what every command cost before the
 * bundle), and the idle RSS of a running `conegate pmp serve` (memory backend, in a lab namespace so
 * its announcements stay inside). Goals: --help under 150 ms, RSS under 60 MB.
 *
 * Peak RSS of a short process comes from a preload that prints process.resourceUsage().maxRSS at
 * exit; the preload is the same for every row (it starts Node's ESM loader, which the bundle uses
 * anyway), and timed runs are separate runs without it. The Node 22 and 24 that scripts/setup.sh
 * installed get the --help rows too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from '../test/lab/lab.ts';
import { conegateArgv, conegateEnv, REPO_ROOT } from '../test/conegate.ts';

const GOAL_HELP_MS = 150;
const GOAL_RSS_MB = 60;
const RSS_PRELOAD = 'data:text/javascript,import{writeSync}from"node:fs";process.on("exit",()=>{const u=process.resourceUsage();writeSync(2,"\\ncg-maxrss-kb="+u.maxRSS+" cg-cpu-us="+(u.userCPUTime+u.systemCPUTime)+"\\n")})';

interface Row {
  medianMs: number;
  minMs: number;
  /** CPU time (user + system) of the process: moved far less than wall time by other work on the machine. */
  cpuMs: number;
  maxRssMb: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (kb: number) => Math.round(kb / 102.4) / 10;

function once(argv: string[], env: NodeJS.ProcessEnv): { ms: number; stderr: string } {
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8', timeout: 30_000 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stderr: r.stderr };
}

/** `argv` is [node, ...rest]; the RSS runs put the preload right after node. */
function measure(argv: string[], runs: number, env: NodeJS.ProcessEnv = conegateEnv({ CONEGATE_CONFIG: '' })): Row {
  once(argv, env); // warm the page cache
  const times = Array.from({ length: runs }, () => once(argv, env).ms);
  const usage = Array.from({ length: Math.max(3, Math.ceil(runs / 4)) }, () => {
    const { stderr } = once([argv[0]!, `--import=${RSS_PRELOAD}`, ...argv.slice(1)], env);
    const m = /cg-maxrss-kb=(\d+) cg-cpu-us=(\d+)/.exec(stderr);
    if (!m) throw new Error(`${argv.join(' ')}: no resource usage line`);
    return { rssKb: Number(m[1]), cpuUs: Number(m[2]) };
  });
  return {
    medianMs: Math.round(median(times)),
    minMs: Math.round(Math.min(...times)),
    cpuMs: Math.round(median(usage.map((u) => u.cpuUs)) / 1000),
    maxRssMb: mb(median(usage.map((u) => u.rssKb))),
  };
}

function procStatusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${key} for ${pid}`);
  return Number(m[1]);
}

/** `pmp serve` on a lab router with the memory backend: RSS sampled over 2 s once it serves. */
async function pmpServeRss(): Promise<{ idleRssMb: number; peakRssMb: number }> {
  const lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
  const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'startup-bench-'));
  try {
    const cfg = join(dir, 'conegate.json');
    writeFileSync(cfg, '{}\n');
    const p = lab.spawnConegate('a.router', ['pmp', 'serve', '--config', cfg, '--lan', 'lan0', '--wan', 'wan0', '--backend', 'memory', '--state', join(dir, 'state.json')]);
    await p.waitForOutput(/serving NAT-PMP and PCP/, 30_000, 'stderr');
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      samples.push(procStatusKb(p.pid, 'VmRSS'));
    }
    const peak = procStatusKb(p.pid, 'VmHWM');
    await p.stop();
    return { idleRssMb: mb(samples.at(-1)!), peakRssMb: mb(peak) };
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The other Node lines scripts/setup.sh installed (.cache/node/<major>/node_modules/node-linux-<arch>/bin/node). */
function otherNodes(): string[] {
  const base = join(REPO_ROOT, '.cache/node');
  if (!existsSync(base)) return [];
  return readdirSync(base).flatMap((major) => {
    const mods = join(base, major, 'node_modules');
    return existsSync(mods) ? readdirSync(mods).filter((d) => d.startsWith('node-linux-')).map((d) => join(mods, d, 'bin/node')) : [];
  });
}

/** --help on another Node line: [node, bin, ...] with that node first. */
function onNode(node: string, runs: number): object {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const base = measure([node, '-e', '0'], runs);
  const help = measure([node, ...conegateArgv(['--help']).slice(1)], runs);
  return { version, nodeE0: base, help, helpOverNodeMs: help.medianMs - base.medianMs };
}

export async function run(args: string[]): Promise<object> {
  const i = args.indexOf('--runs');
  const runs = i >= 0 ? Number(args[i + 1]) : 20;
  const node = { version: process.version, ...measure([process.execPath, '-e', '0'], runs) };
  const help = measure(conegateArgv(['--help']), runs);
  const keygen = measure(conegateArgv(['keygen']), runs);
  const configShow = measure(conegateArgv(['config', 'show']), runs);
  const helpThroughTsx = measure(conegateArgv(['--help']), Math.min(runs, 5), { ...conegateEnv({ CONEGATE_CONFIG: '' }), CONEGATE_DEV: '1' });
  const pmpServe = await pmpServeRss();
  const otherNodeLines = otherNodes().map((n) => onNode(n, runs));
  return {
    note: 'shared 2-core machine with other work running: absolute figures are noisy, compare rows of one run',
    goals: { helpMs: GOAL_HELP_MS, rssMb: GOAL_RSS_MB },
    met: {
      helpMs: help.medianMs < GOAL_HELP_MS,
      shortCommandRss: Math.max(help.maxRssMb, keygen.maxRssMb) < GOAL_RSS_MB,
      pmpServeRss: pmpServe.idleRssMb < GOAL_RSS_MB,
    },
    nodeE0: node,
    /** What the CLI adds to Node's own start: the figure least moved by load from other work. */
    helpOverNodeMs: help.medianMs - node.medianMs,
    help,
    keygen,
    configShow,
    helpThroughTsx,
    pmpServe,
    otherNodeLines,
  };
}
