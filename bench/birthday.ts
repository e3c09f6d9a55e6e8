/**
 * Birthday attempts on real kernel NATs (`npm run bench birthday [--attempts N]`): the lab of
 * test/lab/birthday-lab.ts (h behind the symmetric NAT with random ports, e behind a port-restricted
 * NAT), N attempts per budget, each measured against the formula for the same n and M in the same run:
 *   - the budget: 256 sockets x 1,024 probes at 200/s (theory 98%);
 *   - a small budget, 64 x 256 (theory 22%), where the success rate says more about the formula.
 * Reported per budget: success rate vs the formula, and the distribution of probes (and ms) until the
 * first pong among successes vs the formula's distribution conditioned on success, at the same
 * quantiles; the session-table cost on both NATs. On this shared 2-core machine the times are noisy;
 * the probe counts are not (they depend only on the NAT's random ports).
 * Then the same pair as the mesh runs it (birthday-engine-lab.ts: the discovery engine decides and paces,
 * sealed discovery, a TCP hub as the relay, fresh engines per attempt): how many go direct, and the
 * time to direct from the hard side's first packet (p50, p95; the issue asks p95 < 5 s), which includes
 * the engine's 500 ms wait for plain punching and the hard side's "ready" before the first probe.
 */
import { BIRTHDAY_LIMITS, birthdaySuccessProbability } from '../agent/src/paths/birthday-plan.ts';
import { median, startBirthdayLab, type AttemptRecord } from '../test/lab/birthday-lab.ts';
import { engineAttempt, startHub, type EngineAttempt } from '../test/lab/birthday-engine-lab.ts';

interface Budget {
  name: string;
  sockets: number;
  probes: number;
  ratePerSec: number;
  deadlineMs: number;
}

const BUDGETS: Budget[] = [
  { name: 'issue', sockets: 256, probes: 1024, ratePerSec: BIRTHDAY_LIMITS.maxRatePerSec, deadlineMs: BIRTHDAY_LIMITS.maxDeadlineMs },
  // Deadline: the probes' time plus 1 s for the last answers.
  { name: 'small', sockets: 64, probes: 256, ratePerSec: 200, deadlineMs: 2300 },
];
const QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9];

function quantile(xs: number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** The smallest k whose conditional CDF P(hit by probe k | hit by probe M) reaches q. */
function predictedProbes(n: number, m: number, q: number): number {
  const total = birthdaySuccessProbability(n, m);
  for (let k = 1; k <= m; k++) if (birthdaySuccessProbability(n, k) / total >= q) return k;
  return m;
}

function summarize(b: Budget, runs: AttemptRecord[]) {
  const ok = runs.filter((r) => r.ok);
  // Probes until the first pong: the easy side's planned probes at that moment (ping-backs excluded).
  const probes = ok.map((r) => r.easy.probes - r.easy.pingBacks);
  const ms = ok.map((r) => r.msToBoth!);
  return {
    budget: b,
    attempts: runs.length,
    ok: ok.length,
    successRate: Math.round((ok.length / runs.length) * 1000) / 10,
    theoryRate: Math.round(birthdaySuccessProbability(b.sockets, b.probes) * 1000) / 10,
    probesToFirstPong: Object.fromEntries(QUANTILES.map((q) => [`p${q * 100}`, { measured: quantile(probes, q), theory: predictedProbes(b.sockets, b.probes, q) }])),
    msToBothPongs: Object.fromEntries(QUANTILES.map((q) => [`p${q * 100}`, { measured: Math.round(quantile(ms, q) ?? NaN), theoryFromProbes: Math.round((predictedProbes(b.sockets, b.probes, q) - 1) * (1000 / b.ratePerSec)) }])),
    conntrack: {
      hardNatMedian: median(runs.map((r) => r.conntrack.hardNat)),
      easyNatMedian: median(runs.map((r) => r.conntrack.easyNat)),
      easyNatMax: Math.max(...runs.map((r) => r.conntrack.easyNat)),
    },
    failures: runs.filter((r) => !r.ok).map((r) => ({ attempt: r.attempt, hard: r.hard.failure, easy: r.easy.failure, easyProbes: r.easy.probes })),
  };
}

function summarizeEngine(runs: EngineAttempt[]) {
  const ok = runs.flatMap((r) => ('failed' in r ? [] : [r]));
  const hardMs = ok.map((r) => r.h.ms);
  const bothMs = ok.map((r) => Math.max(r.h.ms, r.e.ms));
  // An easy side whose path went direct through a ping-back still counts its attempt as running (a gap
  // reported to the discovery engine): counted apart, its probes unknown at that moment.
  const lasts = ok.map((r) => (r.eStatus.birthday as { last?: { probes: number } } | undefined)?.last);
  const probes = lasts.flatMap((l) => (l ? [l.probes] : []));
  return {
    attempts: runs.length,
    direct: ok.length,
    viaExtraSocket: ok.filter((r) => r.h.socket !== 0).length,
    msToDirectHard: { p50: quantile(hardMs, 0.5), p95: quantile(hardMs, 0.95), max: Math.max(...hardMs) },
    msToDirectBoth: { p50: quantile(bothMs, 0.5), p95: quantile(bothMs, 0.95), max: Math.max(...bothMs) },
    easyProbes: { p50: quantile(probes, 0.5), p95: quantile(probes, 0.95) },
    easyAttemptStillRunning: lasts.filter((l) => !l).length,
    failures: runs.flatMap((r) => ('failed' in r ? [r.failed.slice(0, 200)] : [])),
  };
}

function intArg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 0 || v > 1000) throw new Error(`${name} N (0..1000)`);
  return v;
}

export async function run(args: string[]): Promise<object> {
  const attempts = intArg(args, '--attempts', 50);
  const engineAttempts = intArg(args, '--engine-attempts', 30);
  const bl = await startBirthdayLab();
  try {
    const out = [];
    let k = 1;
    for (const b of BUDGETS) {
      const runs: AttemptRecord[] = [];
      for (let j = 0; j < attempts; j++) runs.push(await bl.attempt(k++, b));
      out.push(summarize(b, runs));
      console.error(`bench birthday: ${b.name}: ${runs.filter((r) => r.ok).length}/${runs.length}`);
    }
    const hub = await startHub(bl);
    const engineRuns: EngineAttempt[] = [];
    try {
      for (let j = 1; j <= engineAttempts; j++) engineRuns.push(await engineAttempt(bl, j));
    } finally {
      await hub.stop();
    }
    console.error(`bench birthday: engine: ${engineRuns.filter((r) => !('failed' in r)).length}/${engineRuns.length} direct`);
    return { attempts, note: 'shared 2-core machine: ms figures are noisy; probe counts are not', budgets: out, engine: engineAttempts ? summarizeEngine(engineRuns) : undefined };
  } finally {
    await bl.stop();
  }
}
