/**
 * The health gate's decision, pure: a host's samples over the settle time after a change, against its
 * own baseline taken before it (none on a first install). What a network admin expects of an upgrade:
 * the agent answers at the end, the mesh peers that had a path still have one, no fewer of them are
 * direct, the NAT-PMP/PCP server that answered still answers, and memory stayed sane. Every reason is a
 * sentence an admin reads in the summary.
 */
import type { HealthSample, HealthVerdict } from './contract.ts';
import type { HostHealthSample } from './health.ts';

export interface HealthLimits {
  /** The last N samples (or all, when fewer) must have the agent answering. */
  lastAnswering: number;
  /**
   * Peers up may drop by this fraction of the baseline's, rounded down: one flapping peer among ten is
   * not the change's fault; with fewer than ten peers up, none may drop.
   */
  peerDropFraction: number;
  /** Direct share may fall by at most this (0.2 = 20 percentage points). */
  directShareDrop: number;
  /** RSS bound = baseline x this, unless rssMaxMB is set. */
  rssFactor: number;
  /** An absolute RSS bound in MB (wins over rssFactor; the only bound on a first install). */
  rssMaxMB?: number;
}

export const DEFAULT_LIMITS: HealthLimits = { lastAnswering: 2, peerDropFraction: 0.1, directShareDrop: 0.2, rssFactor: 2 };

export interface JudgeOptions {
  limits?: Partial<HealthLimits>;
  /** For the reasons' wording ("within the settle time of 30 s"). */
  settleMs?: number;
  /** The version the change installs; the running agent must say it at the end. */
  expectVersion?: string;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const detail = (s: HealthSample): HostHealthSample => s as HostHealthSample;

/** The samples of the end of the settle time, where the change must have settled: the last third. */
function tail(after: HealthSample[]): HealthSample[] {
  return after.slice(-Math.max(1, Math.ceil(after.length / 3)));
}

/** Judges the samples taken after a change (see HealthLimits for the margins). */
export function judgeHealth(baseline: HealthSample | undefined, after: HealthSample[], o: JudgeOptions = {}): HealthVerdict {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const settle = o.settleMs !== undefined ? ` (settle time ${Math.round(o.settleMs / 1000)} s)` : '';
  if (after.length === 0) return { ok: false, reasons: ['no health sample was taken after the change'] };
  const last = after.slice(-Math.min(limits.lastAnswering, after.length));
  const silent = last.filter((s) => !s.agentAnswering);
  if (silent.length > 0) {
    const why = detail(silent[silent.length - 1]!).error;
    const which = silent.length === last.length ? (last.length === 1 ? 'in the last sample' : `in any of the last ${last.length} samples`) : `in ${silent.length} of the last ${last.length} samples`;
    return { ok: false, reasons: [`the agent did not answer \`conegate status\` ${which}${settle}${why ? `: ${why}` : ''}`] };
  }
  const answering = after.filter((s) => s.agentAnswering);
  const end = tail(answering);
  // The best of the end samples: a peer that comes and goes counts when it was up at all.
  const best = end.reduce((a, b) => (b.peersUp > a.peersUp || (b.peersUp === a.peersUp && b.directShare > a.directShare) ? b : a));
  const final = answering[answering.length - 1]!;
  const reasons = [
    ...versionReasons(final, o.expectVersion),
    ...(baseline?.agentAnswering ? compare(baseline, best, final, limits) : firstInstall(answering, final, settle)),
    ...rssReasons(baseline, answering, limits),
  ];
  return { ok: reasons.length === 0, reasons };
}

function versionReasons(final: HealthSample, expect: string | undefined): string[] {
  if (expect === undefined || final.version === expect) return [];
  return [`the running agent says version ${final.version ?? '(none)'}, not ${expect}: it was not restarted onto the new package`];
}

function compare(base: HealthSample, best: HealthSample, final: HealthSample, limits: HealthLimits): string[] {
  const reasons: string[] = [];
  // A peer the coordinator removed from the map meanwhile cannot be up; expect at most what is listed.
  const tolerated = Math.floor(base.peersUp * limits.peerDropFraction);
  const expected = Math.min(base.peersUp, best.peersTotal) - tolerated;
  if (best.peersUp < expected) {
    reasons.push(`mesh peers with a path fell from ${base.peersUp} to ${best.peersUp} (of ${best.peersTotal} known); ${tolerated === 0 ? 'none may drop' : `at most ${tolerated} may drop`}${downNames(best)}`);
  }
  if (base.peersUp > 0 && best.peersUp > 0 && best.directShare < base.directShare - limits.directShareDrop - 1e-9) {
    reasons.push(`direct paths fell from ${pct(base.directShare)} to ${pct(best.directShare)} of the peers up (at most ${Math.round(limits.directShareDrop * 100)} points less allowed); the rest go through a relay${relayedNames(best)}`);
  }
  if (base.mappingServer === true && final.mappingServer !== true) {
    reasons.push(final.mappingServer === null ? 'the NAT-PMP/PCP server ran before the change and is not enabled now' : 'the NAT-PMP/PCP server answered before the change and does not now');
  }
  const bc = detail(base).coordinator;
  const fc = detail(final).coordinator;
  if (bc?.phase === 'streaming' && fc && fc.phase !== 'streaming') {
    reasons.push(`the agent was connected to the coordinator before the change and is not now (${fc.phase}${fc.lastError ? `: ${fc.lastError}` : ''})`);
  }
  return reasons;
}

function firstInstall(answering: HealthSample[], final: HealthSample, settle: string): string[] {
  const f = detail(final);
  if (!answering.some((s) => detail(s).mesh)) return [];
  const reasons: string[] = [];
  if (f.coordinator && f.coordinator.phase !== 'streaming') {
    reasons.push(`the new agent did not connect to the coordinator${settle} (${f.coordinator.phase}${f.coordinator.lastError ? `: ${f.coordinator.lastError}` : ''})`);
  }
  if (final.peersTotal > 0 && !answering.some((s) => s.peersUp > 0)) {
    reasons.push(`none of the ${plural(final.peersTotal, 'mesh peer')} got a path${settle}${downNames(f)}`);
  }
  return reasons;
}

function rssReasons(base: HealthSample | undefined, answering: HealthSample[], limits: HealthLimits): string[] {
  const bound = limits.rssMaxMB ?? (base?.rssMB ? base.rssMB * limits.rssFactor : undefined);
  if (bound === undefined) return [];
  const peak = Math.max(...answering.map((s) => s.rssMB ?? 0));
  if (peak <= bound) return [];
  const why = limits.rssMaxMB !== undefined ? `the bound of ${limits.rssMaxMB} MB` : `${limits.rssFactor}x the ${base!.rssMB} MB before the change`;
  return [`the agent uses ${Math.round(peak)} MB of memory, above ${why}`];
}

function downNames(s: HostHealthSample): string {
  const names = (s.peers ?? []).filter((p) => p.path === 'none' || !p.online).map((p) => p.name);
  return names.length === 0 ? '' : ` (no path: ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ${names.length - 5} more` : ''})`;
}

function relayedNames(s: HostHealthSample): string {
  const names = (s.peers ?? []).filter((p) => p.online && (p.path === 'udp-relay' || p.path === 'tcp-relay')).map((p) => p.name);
  return names.length === 0 ? '' : ` (relayed: ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ${names.length - 5} more` : ''})`;
}
