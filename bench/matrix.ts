/**
 * The mesh NAT matrix, run several times (`npm run bench matrix [--runs N]`, default 9): the lab of
 * test/lab/mesh-matrix.ts (nine `conegate up` nodes, one per NAT kind, every pair at once), and across
 * all runs, against the goals of the NAT matrix:
 *   - pairs where one side maps endpoint-independently: time to direct from the pair's first packet,
 *     p50 < 1 s and p95 < 2 s;
 *   - pairs that need the birthday paradox: direct in >= 98% of the attempts (9 runs x 6 pairs = 54), and
 *     p95 < 5 s from the first packet;
 *   - every other cell as expected (hard x hard and UDP blocked relayed, with their reasons).
 * The same times from the start of each run (before its 72 ping processes are started) are given too.
 * A birthday attempt misses with P = 1.7% by the formula (256 sockets x 1,024 probes), so the direct
 * share of birthday pairs has a spread: 54 attempts at 98.3% give 0 or 1 misses in 77% of such benches.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMatrixLab, type MatrixCell } from '../test/lab/mesh-matrix.ts';
import { requirePeers } from '../test/lab/require-peers.ts';

function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

const times = (cells: MatrixCell[], pick: (c: MatrixCell) => number | null) => {
  const xs = cells.map(pick).filter((x): x is number => x !== null);
  return { n: xs.length, p50Ms: quantile(xs, 0.5), p95Ms: quantile(xs, 0.95), maxMs: xs.length ? Math.max(...xs) : null };
};

function runsArg(args: string[]): number {
  const i = args.indexOf('--runs');
  const n = i >= 0 ? Number(args[i + 1]) : 9;
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error('--runs takes a whole number from 1 to 50');
  return n;
}

export async function run(args: string[]): Promise<object> {
  requirePeers({ ping: 'iputils-ping', nft: 'nftables', openssl: 'openssl' });
  const runs = runsArg(args);
  const cells: MatrixCell[] = [];
  const perRun: object[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'bench-matrix-'));
    const r = await runMatrixLab(dir, { budgetMs: 45_000 });
    writeFileSync(join(dir, 'mesh-matrix.json'), JSON.stringify(r, null, 2));
    cells.push(...r.cells);
    const bday = r.cells.filter((c) => c.expected.birthday);
    perRun.push({ run: i + 1, startedAt: r.startedAt, dir, birthdayDirect: bday.filter((c) => c.direct).length, birthdayPairs: bday.length, notAsExpected: r.cells.filter((c) => !c.ok && !c.known).map((c) => `${c.a} x ${c.b}: ${c.problem}`) });
    console.error(`bench matrix: run ${i + 1}/${runs}: ${bday.filter((c) => c.direct).length}/${bday.length} birthday pairs direct`);
  }
  const easy = cells.filter((c) => c.expected.direct && !c.expected.birthday && c.direct);
  const bday = cells.filter((c) => c.expected.birthday);
  const bdayDirect = bday.filter((c) => c.direct);
  const easyTimes = times(easy, (c) => c.toDirectMs);
  const bdayTimes = times(bdayDirect, (c) => c.toDirectMs);
  const directShare = bday.length ? bdayDirect.length / bday.length : null;
  return {
    runs,
    oneSideEasy: { ...easyTimes, fromRunStart: times(easy, (c) => c.fromRunStartMs), goal: 'p50 < 1000 ms, p95 < 2000 ms', met: easyTimes.p50Ms !== null && easyTimes.p50Ms < 1000 && easyTimes.p95Ms! < 2000 },
    birthday: {
      attempts: bday.length, direct: bdayDirect.length, directShare, ...bdayTimes, fromRunStart: times(bdayDirect, (c) => c.fromRunStartMs),
      goal: 'direct >= 98% of attempts, p95 < 5000 ms', met: directShare !== null && directShare >= 0.98 && bdayTimes.p95Ms !== null && bdayTimes.p95Ms < 5000,
    },
    notAsExpected: cells.filter((c) => !c.ok && !c.known).length,
    perRun,
  };
}
