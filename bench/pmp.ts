/**
 * NAT-PMP server benchmark: requests/s, latency and server CPU per request of `conegate pmp serve` vs
 * miniupnpd (Debian miniupnpd-nftables) on the same lab router, same client, same load, in one run.
 * Both servers run at once on two addresses of the router's LAN, and the rounds alternate between
 * them (A B, B A, A B, ...), so load from other work on the machine hits both alike; medians over the
 * rounds are reported. Workloads: public-address requests; UDP map renewals (each client socket keeps
 * renewing its own mapping: the steady state of real clients); and mapping changes, i.e. create +
 * delete pairs (each socket creates its mapping and deletes it again), with 1 client and with 32, the
 * only workloads that touch the firewall. The client is test/lab/pmpd-tools.ts `load`: `concurrency`
 * sockets on one LAN host, one request outstanding each.
 *
 * Fairness: conegate's per-client rate limit is raised (miniupnpd has none); both log as in
 * production (conegate: info to a file; miniupnpd: syslog, not -d, which would make it scan ports and
 * stall, see lab-notes.md). miniupnpd refuses a documentation-range WAN address unless it learns it
 * by STUN, so coturn (RFC 5780 mode: two addresses, -n so Debian's config does not disable it) runs on
 * the lab internet, and the router admits the STUN server's answers on its WAN so miniupnpd's self-test
 * passes. Both servers must grant one mapping before anything is measured: before that check, every
 * miniupnpd mapping in this bench was a NETWORK_FAILURE answer (its STUN check had failed).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from '../test/lab/lab.ts';
import { conegateArgv } from '../test/conegate.ts';

const TOOLS = 'test/lab/pmpd-tools.ts';
/** conegate's config in the bench: the per-client rate limit and quota are lifted (said in the JSON). */
const CONEGATE_BENCH_CONFIG = { pmp: { requestsPerClientPerSec: 1_000_000, maxMappingsPerClient: 1024 } };
type Workload = 'public' | 'udp' | 'pair';

interface Round {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  timeouts: number;
  /** Answers with a result other than SUCCESS. */
  failed: number;
  /** Server CPU (user+system) per 1000 answered requests. */
  serverCpuMsPer1k: number;
}

interface Server {
  name: 'conegate' | 'miniupnpd';
  gw: string;
  pid: number;
}

/** utime + stime of a process in ms (from /proc, the process lives in the lab namespace but the same kernel). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // CLK_TCK is 100 on Linux
}

async function round(lab: Lab, s: Server, op: Workload, durationMs: number, concurrency: number): Promise<Round> {
  const before = cpuMs(s.pid);
  const r = await lab.execNode('a.h1', TOOLS, ['load', '--gw', s.gw, '--op', op, '--duration-ms', String(durationMs), '--concurrency', String(concurrency)], { timeoutMs: durationMs + 30_000 });
  const used = cpuMs(s.pid) - before;
  if (r.code !== 0) throw new Error(`load client failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { requests: number; requestsPerSec: number; p50Ms: number; p99Ms: number; timeouts: number; failed: number };
  return { requestsPerSec: j.requestsPerSec, p50Ms: j.p50Ms, p99Ms: j.p99Ms, timeouts: j.timeouts, failed: j.failed, serverCpuMsPer1k: Math.round((used / Math.max(1, j.requests)) * 1000 * 100) / 100 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function waitReady(lab: Lab, gw: string, who: string, why: () => string): Promise<void> {
  let last = '';
  for (let i = 0; i < 10; i++) {
    const r = await lab.execNode('a.h1', TOOLS, ['pmp', '--gw', gw, '--op', 'public'], { timeoutMs: 10_000 });
    last = r.stdout + r.stderr;
    if (r.code === 0 && JSON.parse(r.stdout).answer?.result === 0) return;
  }
  throw new Error(`${who} never answered: ${last} ${why()}`);
}

export async function run(args: string[] = []): Promise<unknown> {
  const arg = (k: string, d: number) => Number(args.find((a) => a.startsWith(`--pmp-${k}=`))?.split('=')[1] ?? d);
  const durationMs = arg('round-ms', 2000);
  const rounds = arg('rounds', 5);
  const concurrency = arg('concurrency', 32);
  for (const [bin, pkg] of [['/usr/sbin/miniupnpd', 'miniupnpd-nftables'], ['/usr/bin/turnserver', 'coturn']] as const) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: apt-get install ${pkg} (or run scripts/setup.sh)`);
  }
  const lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
  const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'pmp-bench-'));
  let miniPid = 0;
  try {
    const lan = lab.node('a.router').lan!;
    const miniGw = lan.v4!;
    const prefix = lan.v4Prefix ?? 24;
    const coneGw = miniGw.replace(/\.\d+$/, '.2');
    await lab.exec('a.router', ['ip', 'addr', 'add', `${coneGw}/${prefix}`, 'dev', lan.name], { check: true });

    // conegate on the second LAN address; logs to a file as on an appliance.
    const cfg = join(dir, 'conegate.json');
    writeFileSync(cfg, JSON.stringify(CONEGATE_BENCH_CONFIG));
    const logFile = join(dir, 'conegate.log');
    const cone = lab.spawn('a.router', ['sh', '-c', `exec ${conegateArgv(['pmp', 'serve', '--config', cfg, '--lan', `${coneGw}/${prefix}`, '--wan', 'wan0', '--backend', 'nftables', '--state', join(dir, 'pmp-state.json')]).map((a) => `'${a}'`).join(' ')} 2>"${logFile}"`], {
      description: 'conegate pmp serve (bench)',
    });
    await waitReady(lab, coneGw, 'conegate', () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''));

    // miniupnpd on the first LAN address.
    const stunHost = lab.addr('s1');
    const stun = lab.spawn('s1', ['turnserver', '-n', '-z', '--stun-only', '-L', stunHost, '-L', lab.addr('s1', { alt: true }), '-p', '3478', '--alt-listening-port', '3479', '--no-tls', '--no-dtls', '--no-cli', '--log-file', join(dir, 'turn.log'), '--simple-log', '--pidfile', join(dir, 'turn.pid')], {
      description: 'coturn STUN for miniupnpd',
    });
    for (let i = 0; i < 100 && !existsSync(join(dir, 'turn.pid')); i++) await new Promise((r) => setTimeout(r, 50));
    // miniupnpd's RFC 5780 self-check wants answers from the STUN server's other address and port;
    // a router dropping them makes miniupnpd refuse every mapping (it then "maps" at refusal speed).
    await lab.allowRouterInputFrom('a.router', stunHost);
    await lab.allowRouterInputFrom('a.router', lab.addr('s1', { alt: true }));
    // Debian's nft init script is broken; create miniupnpd's chains by hand (lab-notes.md).
    await lab.nftApply('a.router', `table inet filter {
  chain miniupnpd { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump postrouting_miniupnpd; }
}`);
    const conf = join(dir, 'miniupnpd.conf');
    const lanNet = `${miniGw.replace(/\.\d+$/, '.0')}/${prefix}`;
    writeFileSync(conf, ['ext_ifname=wan0', `listening_ip=${miniGw}/${prefix}`, 'enable_natpmp=yes', 'enable_upnp=no', 'secure_mode=yes', 'ext_perform_stun=yes', `ext_stun_host=${stunHost}`, 'ext_stun_port=3478', `allow 1024-65535 ${lanNet} 1024-65535`, 'deny 0-65535 0.0.0.0/0 0-65535', ''].join('\n'));
    const pidFile = join(dir, 'miniupnpd.pid');
    const started = await lab.exec('a.router', ['miniupnpd', '-f', conf, '-P', pidFile], { timeoutMs: 20_000 });
    if (started.code !== 0) throw new Error(`miniupnpd did not start: ${started.stderr}`);
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    miniPid = Number(readFileSync(pidFile, 'utf8').trim());
    await waitReady(lab, miniGw, 'miniupnpd', () => started.stderr);

    // A rate of refusals would compare nothing: both must grant a mapping before anything is measured.
    for (const [who, gw] of [['conegate', coneGw], ['miniupnpd', miniGw]] as const) {
      const r = await lab.execNode('a.h1', TOOLS, ['pmp', '--gw', gw, '--op', 'udp', '--internal', '19999', '--external', '19999', '--lifetime', '60'], { timeoutMs: 10_000 });
      if (r.code !== 0 || JSON.parse(r.stdout).answer?.result !== 0) throw new Error(`${who} refused a UDP mapping: ${r.stdout} ${r.stderr}`);
    }

    const servers: Server[] = [
      { name: 'conegate', gw: coneGw, pid: cone.pid },
      { name: 'miniupnpd', gw: miniGw, pid: miniPid },
    ];
    const workloads = [
      ['public', 'publicAddress', concurrency],
      ['udp', 'mapRenew', concurrency],
      ['pair', 'mapPairs1Client', 1],
      ['pair', 'mapPairs32Clients', 32],
    ] as const;
    const results: Record<string, Record<string, Round[]>> = { conegate: {}, miniupnpd: {} };
    for (const [op, key, conc] of workloads) {
      for (const s of servers) {
        results[s.name]![key] = [];
        await round(lab, s, op, 500, conc); // warm-up: JIT, ARP, first mappings
      }
      for (let i = 0; i < rounds; i++) {
        for (const s of i % 2 ? [...servers].reverse() : servers) results[s.name]![key]!.push(await round(lab, s, op, durationMs, conc));
      }
    }
    const summary = (rs: Round[]) => ({
      requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      serverCpuMsPer1k: median(rs.map((r) => r.serverCpuMsPer1k)),
      timeouts: rs.reduce((n, r) => n + r.timeouts, 0),
      failed: rs.reduce((n, r) => n + r.failed, 0),
      rounds: rs.map((r) => r.requestsPerSec),
    });
    const out = (name: string) => Object.fromEntries(workloads.map(([, key]) => [key, summary(results[name]![key]!)]));
    const c = out('conegate');
    const m = out('miniupnpd');
    const ratio = (a: number, b: number) => Math.round((a / Math.max(1e-9, b)) * 100) / 100;
    await cone.stop();
    await stun.stop();
    return {
      load: {
        client: 'pmpd-tools load: closed loop, one LAN host, one request outstanding per socket',
        concurrency,
        units: 'requestsPerSec and p50/p99 are per request, except mapPairs*: per create+delete pair (two requests)',
        conegateConfig: { ...CONEGATE_BENCH_CONFIG.pmp, note: 'per-client rate limit and quota lifted: every socket of the load comes from one LAN host (miniupnpd has neither)' },
        roundMs: durationMs, rounds, order: 'alternating A/B per round; medians', machineLoadAvg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') },
      conegate: c,
      miniupnpd: { version: '2.3.1 (Debian miniupnpd-nftables)', ...m },
      conegateVsMiniupnpd: Object.fromEntries(
        workloads.flatMap(([, key]) => [
          [`${key}Rate`, ratio(c[key]!.requestsPerSec, m[key]!.requestsPerSec)],
          [`${key}P99`, ratio(c[key]!.p99Ms, m[key]!.p99Ms)],
        ]),
      ),
    };
  } finally {
    if (miniPid > 1) {
      try {
        process.kill(miniPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
