/**
 * What the mesh says about an IPS on the router it runs on: the findings of `ips check` that hit our
 * WireGuard traffic, as one line for a relayed peer's reason (`wireguard-blocked`, disco/wg-block.ts).
 * Pure: the report in, a sentence out (undefined when nothing there drops WireGuard).
 */
import type { Finding, IpsReport } from './findings.ts';

function label(f: Finding): string {
  const rule = f.sid !== undefined ? `rule ${f.sid}${f.msg ? ` "${f.msg}"` : ''}` : `category ${f.category ?? '?'}`;
  return `${f.engine} ${rule} (${f.severity === 'blocks' ? 'blocks' : 'may block'} WireGuard, ${f.mode}) on ${f.interface}`;
}

export function wireguardFinding(r: IpsReport): string | undefined {
  const hits = r.findings.filter((f) => f.severity !== 'alert-only' && f.hits.some((h) => h.kind === 'wireguard'));
  if (hits.length === 0) return undefined;
  const first = hits[0]!;
  const more = hits.length > 1 ? ` and ${hits.length - 1} more` : '';
  const fix = first.fix[0] ? `; fix: ${first.fix[0]}` : '';
  return `${label(first)}${more}${fix}`;
}
