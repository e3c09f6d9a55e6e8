/**
 * Failover of the discovery engine alone (`npm run bench failover [--cycles N]`), on simulated time, so
 * the figures are the engine's own and not the machine's: two sites behind port-restricted NATs in the
 * in-memory mesh (test/fakes/disco-mesh.ts), traffic both ways every 100 ms with jittered latencies; N
 * times the direct UDP between them is dropped at a random moment and lifted again 4-12 s later.
 * Reported: time until both sides route to the relay alone (the direct path given up), and time until
 * both are direct again after the lift, p50/p95/max; plus the discovery pings per minute while all is
 * well (what the silence checks cost). The lab's figures with real kernels and a TCP stream are in
 * test/lab/failover.test.ts (printed) and the README.
 */
import { MeshSim, routeOf, type SimNodeSpec } from '../test/fakes/disco-mesh.ts';

const EASY = { mapping: 'eim', filtering: 'apdf' } as const;
const site = (name: string, n: number): SimNodeSpec => ({ name, v4: `10.0.${n}.2`, nats: [{ ...EASY, publicAddr: `203.0.113.${n}` }] });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const summary = (xs: number[]) => ({ n: xs.length, p50Ms: Math.round(pct(xs, 50)), p95Ms: Math.round(pct(xs, 95)), maxMs: Math.round(Math.max(...xs)) });

export async function run(args: string[]): Promise<object> {
  const i = args.indexOf('--cycles');
  const cycles = i >= 0 ? Number(args[i + 1]) : 50;
  const sim = new MeshSim(3);
  const a = sim.add(site('a', 1));
  const b = sim.add(site('b', 2));
  let jitter = 99;
  const rnd = () => (jitter = (jitter * 1103515245 + 12345) >>> 0) / 2 ** 32;
  sim.latency = () => 10 + rnd() * 5;
  let blocked = false;
  sim.blocked = () => blocked;
  sim.start();
  sim.traffic(a, b, Number.MAX_SAFE_INTEGER);
  if (sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct' && routeOf(b, a, sim.now) === 'direct', 10_000) === undefined) throw new Error('never direct');
  const pingsBefore = a.stats.pingsSent + b.stats.pingsSent;
  const quietFrom = sim.now;
  sim.runUntil(sim.now + 60_000);
  const pingsPerMinute = (a.stats.pingsSent + b.stats.pingsSent - pingsBefore) / 2 / ((sim.now - quietFrom) / 60_000);
  const toRelay: number[] = [];
  const toDirect: number[] = [];
  for (let c = 0; c < cycles; c++) {
    sim.runUntil(sim.now + 5_000 + rnd() * 3_000);
    blocked = true;
    const t0 = sim.now;
    const relayed = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'tcp-relay' && routeOf(b, a, sim.now) === 'tcp-relay', 30_000);
    if (relayed === undefined) throw new Error(`cycle ${c}: never on the relay alone`);
    toRelay.push(relayed - t0);
    sim.runUntil(t0 + 4_000 + rnd() * 8_000);
    blocked = false;
    const t1 = sim.now;
    const healed = sim.runUntilTrue(() => routeOf(a, b, sim.now) === 'direct' && routeOf(b, a, sim.now) === 'direct', 60_000);
    if (healed === undefined) throw new Error(`cycle ${c}: still relayed 60 s after the lift`);
    toDirect.push(healed - t1);
  }
  return { cycles, toRelay: summary(toRelay), toDirect: summary(toDirect), discoPingsPerMinutePerNodeWhileHealthy: Math.round(pingsPerMinute) };
}
