/**
 * Which PF anchors conegate loads into, and the check that the main ruleset evaluates them.
 *
 * PF evaluates the rules of an anchor only where the main ruleset (or an anchor it evaluates)
 * references it with the anchor type of those rules: `nat-anchor` for nat rules, `rdr-anchor` for
 * rdr rules, `binat-anchor` for binat, `anchor` for filter rules (pf.conf(5), ANCHORS). Rules loaded
 * into an anchor nothing references are accepted by pfctl and silently never used, so both the NAT
 * applier (`conegate pf apply`) and the NAT-PMP/PCP pf backend check before loading and refuse
 * with the fix when the reference is missing. `name/*` evaluates each anchor directly under `name`.
 * Where each platform references ours: pf-rules/README.md ("Where PF evaluates our rules").
 */
import { ConegateError } from '../errors.ts';

export type AnchorType = 'nat' | 'rdr' | 'binat' | 'filter';
export type PfPlatform = 'opnsense' | 'pfsense' | 'freebsd';

export interface AnchorRef {
  type: AnchorType;
  name: string;
}

/** The endpoint-independent NAT rules: pfSense steps into `natearly/*` before all outbound NAT. */
export const EIM_ANCHOR: Record<PfPlatform, string> = { pfsense: 'natearly/conegate', opnsense: 'conegate', freebsd: 'conegate' };

/** The NAT-PMP/PCP server's `rdr pass` rules (the same name on every platform). */
export const PMPD_ANCHOR = 'conegate/pmpd';

/** `pfctl -s nat` / `-s rules` lines such as `nat-anchor "natearly/*" all` or `anchor "x" all`. */
export function parseAnchorRefs(shown: string): AnchorRef[] {
  const out: AnchorRef[] = [];
  for (const m of shown.matchAll(/^\s*(?:(nat|rdr|binat)-)?anchor\s+"([^"]+)"/gm)) out.push({ type: (m[1] as AnchorType | undefined) ?? 'filter', name: m[2]! });
  return out;
}

/** Whether a reference of the right type reaches `want`: its own name, or `parent/*` one level up. */
export function reaches(refs: AnchorRef[], want: AnchorRef): boolean {
  return refs.some((r) => r.type === want.type && (r.name === want.name || (r.name.endsWith('/*') && want.name.startsWith(r.name.slice(0, -1)) && !want.name.slice(r.name.length - 1).includes('/'))));
}

const KEYWORD: Record<AnchorType, string> = { nat: 'nat-anchor', rdr: 'rdr-anchor', binat: 'binat-anchor', filter: 'anchor' };

/** What the admin does so the main ruleset references `want`, per platform (all three when unknown). */
export function anchorFix(want: AnchorRef, platform?: PfPlatform): string {
  const line = `${KEYWORD[want.type]} "${want.name}"`;
  const fixes: Record<PfPlatform, string> = {
    opnsense: `OPNsense: install the conegate plugin (its firewall hook registers ${line}) and reload the firewall (Firewall > Rules: Apply, or configctl filter reload)`,
    pfsense:
      want.type === 'nat' && want.name.startsWith('natearly/')
        ? 'pfSense: the filter adds nat-anchor "natearly/*" itself; reload it (Status > Filter Reload)'
        : `pfSense: install the conegate package (its filter hook adds ${line}) and reload the filter (Status > Filter Reload)`,
    freebsd: `FreeBSD: add ${line} to /etc/pf.conf (translation anchors before the first nat/rdr rule) and run pfctl -f /etc/pf.conf`,
  };
  return platform ? fixes[platform] : Object.values(fixes).join('; ');
}

export type PfctlRun = (args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/** The anchor references of the main ruleset: `pfctl -s nat` (nat/rdr/binat) and, if asked for, `-s rules`. */
export async function listAnchorRefs(run: PfctlRun, types: AnchorType[]): Promise<AnchorRef[]> {
  const shows = [...new Set(types.map((t) => (t === 'filter' ? 'rules' : 'nat')))];
  const refs: AnchorRef[] = [];
  for (const what of shows) {
    const r = await run(['-s', what]);
    if (r.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `pfctl -s ${what} failed: ${(r.stderr.trim() || `exit ${r.code}`).split('\n')[0]}`, { context: { exit: r.code } });
    refs.push(...parseAnchorRefs(r.stdout));
  }
  return refs;
}

/**
 * Refuses (CG_ANCHOR_UNREFERENCED, nothing loaded) unless the main ruleset references every anchor
 * in `wants` with the right type. The message names the missing line and the fix.
 */
export async function assertAnchorsReferenced(run: PfctlRun, wants: AnchorRef[], platform?: PfPlatform): Promise<void> {
  const refs = await listAnchorRefs(run, wants.map((w) => w.type));
  const missing = wants.filter((w) => !reaches(refs, w));
  if (missing.length === 0) return;
  const what = missing.map((w) => `${KEYWORD[w.type]} "${w.name}"`).join(', ');
  throw new ConegateError('CG_ANCHOR_UNREFERENCED', `the loaded PF ruleset has no ${what}: rules loaded there would never be evaluated, so nothing was loaded. Fix: ${missing.map((w) => anchorFix(w, platform)).join('; ')}`, {
    context: { missing, referenced: refs },
  });
}
