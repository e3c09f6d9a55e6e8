/**
 * The IPS part of netcheck: an IPS rule that drops STUN or WireGuard makes a perfectly easy NAT look
 * hard (the mesh silently falls back to a relay), so netcheck says so in one line and points at
 * `conegate ips check` for the rule and the fix. Never fails netcheck: a check that cannot run says why.
 */
import { checkIps, type CheckOptions } from '../ips/check.ts';
import { headline } from '../ips/format.ts';

export interface IpsSummary {
  /** False when the check could not run (then blocking and complete are null). */
  checked: boolean;
  /** True when a rule blocks or may block our traffic. */
  blocking: boolean | null;
  /** False when some IPS file could not be read: "nothing blocks" is then not proven. */
  complete: boolean | null;
  /** One line for people, e.g. "IPS on this router blocks P2P: suricata rule 2033078 (STUN) on WAN". */
  headline: string;
}

export async function summarizeIps(opts: CheckOptions): Promise<IpsSummary> {
  try {
    const report = await checkIps(opts);
    return { checked: true, blocking: report.blocking, complete: report.complete, headline: headline(report) };
  } catch (err) {
    return { checked: false, blocking: null, complete: null, headline: `IPS not checked: ${err instanceof Error ? err.message : String(err)}` };
  }
}
