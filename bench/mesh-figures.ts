/**
 * Pure parts of the mesh and relay benches: reading a process's CPU time and RSS from /proc text,
 * reading an iperf3 -J report, the figures derived from them (Mbit/s, CPU seconds per Gbit carried),
 * medians and ratios, and the nftables text that takes UDP between two sites away (so the agents
 * must use the TCP relay). No I/O here: the benches read the files and run the commands.
 */

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
export const USER_HZ = 100;

/**
 * User + system CPU seconds of a whole process (all its threads) from the text of /proc/<pid>/stat.
 * The command name (field 2) may hold spaces and parentheses, so fields are counted after the last ')':
 * utime is field 14, stime field 15 (proc(5)).
 */
export function cpuSecFromStat(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  const f = stat.slice(close + 2).trim().split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('not a /proc/<pid>/stat line');
  return (utime + stime) / USER_HZ;
}

/** Resident set size in MB (MiB, rounded to 0.1) from the text of /proc/<pid>/status (VmRSS in kB). */
export function rssMbFromStatus(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error('no VmRSS in /proc/<pid>/status');
  return Math.round((Number(m[1]) / 1024) * 10) / 10;
}

export interface IperfRun {
  /** Received throughput, Mbit/s. */
  mbps: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** TCP retransmissions of the sender (0 when iperf3 does not report them). */
  retransmits: number;
}

/** What an `iperf3 -J` TCP client report says was received; throws with iperf3's own error text. */
export function parseIperf(json: string): IperfRun {
  let j: { error?: string; end?: { sum_received?: { bytes?: number; bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
  try {
    j = JSON.parse(json) as typeof j;
  } catch {
    throw new Error(`iperf3 printed no JSON report: ${json.slice(0, 200)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const r = j.end?.sum_received;
  if (!r || typeof r.bytes !== 'number' || typeof r.bits_per_second !== 'number') throw new Error('iperf3 report has no end.sum_received');
  return { mbps: round(r.bits_per_second / 1e6, 1), bytes: r.bytes, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
}

/**
 * CPU seconds a process spent per Gbit of tunnel payload carried (bytes as iperf3 counted them):
 * comparable across runs of different length and speed, unlike "% of a core".
 */
export function cpuSecPerGbit(cpuSec: number, bytes: number): number | null {
  if (bytes <= 0) return null;
  return round(cpuSec / ((bytes * 8) / 1e9), 2);
}

export function round(x: number, digits = 2): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/** Median (the upper one of an even count); NaN for none. */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** a / b to 3 digits, or null when b is not a positive number (a failed baseline is no ratio). */
export function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a) ? round(a / b, 3) : null;
}

/**
 * A table of its own (`inet cgbench`, so the lab's and the agent's tables stay as they are) that drops
 * every UDP datagram between this host and `peer`, both ways, locally sent or received: applied on a
 * site's router, direct WireGuard between the sites is gone and only the TCP relay (TCP 443 to a third
 * host) carries the tunnel. Priority -10 runs before the lab's filter chains.
 */
export function dropUdpText(peer: string): string {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(peer)) throw new Error(`not an IPv4 address: ${peer}`);
  return [
    'table inet cgbench {',
    '  chain out {',
    '    type filter hook output priority -10; policy accept;',
    `    ip daddr ${peer} meta l4proto udp drop`,
    '  }',
    '  chain in {',
    '    type filter hook input priority -10; policy accept;',
    `    ip saddr ${peer} meta l4proto udp drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}
