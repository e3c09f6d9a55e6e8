/** Human-readable output of `ips check` and `ips probe`. */
import { hitLabel, type Finding, type IpsReport } from './findings.ts';
import type { ProbeReport } from './probe/prober.ts';

const HEAD: Record<Finding['severity'], string> = { blocks: 'BLOCKS', 'may-block': 'MAY BLOCK', 'alert-only': 'ALERT ONLY' };

export function formatReport(r: IpsReport): string {
  const lines: string[] = [`IPS check: ${r.platform} (root ${r.root})`];
  if (r.instances.length === 0) lines.push('No IPS/IDS configuration found.');
  for (const i of r.instances) {
    const listed = i.addressDependentRules > 0 ? `, of which ${i.addressDependentRules} hit our traffic only if a peer or relay has an address they name (reputation lists)` : '';
    lines.push(`  ${i.engine} on ${i.interface}: ${i.enabled ? i.mode : 'disabled'}, ${i.rulesChecked} enabled rules checked${listed}`);
  }
  for (const f of r.findings) {
    const what = f.sid !== undefined ? `SID ${f.gid ?? 1}:${f.sid}${f.msg ? ` "${f.msg}"` : ''}` : `category ${f.category ?? '?'}`;
    lines.push('', `${HEAD[f.severity]}: ${f.engine} on ${f.interface}: ${what}`, `  action ${f.action}, hits ${hitLabel(f.hits)} (${f.source})`, `  why: ${f.why}`);
    f.fix.forEach((x, n) => lines.push(`  fix ${n + 1}: ${x}`));
    for (const n of f.notes) lines.push(`  note: ${n}`);
  }
  if (r.errors.length > 0) {
    lines.push('', 'Files that could not be checked:');
    for (const e of r.errors) lines.push(`  ${e.file}${e.line !== undefined ? ` line ${e.line}` : ''}: ${e.message}`);
  }
  const count = (s: Finding['severity']) => r.findings.filter((f) => f.severity === s).length;
  lines.push('', headline(r), `Result: ${count('blocks')} blocking, ${count('may-block')} may block, ${count('alert-only')} alert only; ${r.errors.length} file errors.` + (r.blocking ? ' Peer-to-peer traffic is (or may be) blocked.' : r.complete ? ' Nothing blocks peer-to-peer traffic.' : ' Nothing found blocking, but the check is incomplete.'));
  return lines.join('\n');
}

export function formatProbe(r: ProbeReport): string {
  const lines = [`IPS probe to ${r.peer}:`];
  for (const k of r.results) lines.push(`  ${k.kind.padEnd(9)} ${k.verdict.padEnd(15)} ${k.detail}`);
  lines.push(r.blocked.length === 0 ? 'Nothing was dropped on the way.' : `Dropped on the way: ${r.blocked.join(', ')}.`);
  return lines.join('\n');
}

/** One line for netcheck and the GUI, e.g. "IPS on this router blocks P2P: suricata rule 2016149 (STUN) on WAN". */
export function headline(r: IpsReport): string {
  const worst = r.findings.filter((f) => f.severity === 'blocks');
  const maybe = r.findings.filter((f) => f.severity === 'may-block');
  const name = (f: Finding) => `${f.engine} ${f.sid !== undefined ? `rule ${f.sid}` : `category ${f.category ?? '?'}`} (${hitLabel(f.hits)}) on ${f.interface}`;
  const more = (n: number) => (n > 1 ? ` and ${n - 1} more` : '');
  if (worst.length > 0) return `IPS on this router blocks P2P: ${name(worst[0]!)}${more(worst.length)}`;
  if (maybe.length > 0) return `IPS on this router may block P2P: ${name(maybe[0]!)}${more(maybe.length)}`;
  if (!r.complete) return `IPS check incomplete: ${r.errors.length} file(s) could not be read`;
  return r.instances.length > 0 ? 'IPS present; nothing blocks P2P' : 'no IPS found';
}
