/**
 * Interface configuration (addresses, MTU, link up, routes) as plans of argv lists, then run. The plans
 * are pure so tests compare arrays; `applyPlan` runs them with execFile (no shell, no quoting issues).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ConegateError } from '../errors.ts';
import { formatCidr, parseCidr } from '../net/ip.ts';

const run = promisify(execFile);

export interface IfconfigSpec {
  name: string;
  mtu: number;
  /** Interface addresses with prefix, e.g. `100.64.0.1/24`, `2001:db8::1/64`. */
  addresses: string[];
  /** Extra routes into the interface (a peer's allowed IPs), e.g. `100.64.9.0/24`. */
  routes: string[];
}

/** An address with prefix: `text` keeps the host bits (for addresses), `network` clears them (for routes). */
function cidrOrThrow(text: string): { text: string; network: string; v6: boolean; host: string } {
  const c = parseCidr(text, { loose: true });
  if (!c) throw new ConegateError('CG_CONFIG_INVALID', `not an address with prefix: ${JSON.stringify(text)}`);
  const host = text.split('/')[0] as string;
  return { text: text.includes('/') ? text : `${host}/${c.prefixLen}`, network: formatCidr(c), v6: c.family === 6, host };
}

/** `ip` commands that bring a Linux TUN up with its addresses and routes. */
export function planLinux(spec: IfconfigSpec): string[][] {
  const plan: string[][] = [['ip', 'link', 'set', 'dev', spec.name, 'mtu', String(spec.mtu)]];
  for (const a of spec.addresses.map(cidrOrThrow)) {
    // nodad: a point-to-point tunnel has no neighbours to collide with, and DAD would leave the address
    // tentative (unusable) for a second or more after start.
    plan.push(a.v6 ? ['ip', '-6', 'addr', 'add', a.text, 'dev', spec.name, 'nodad'] : ['ip', 'addr', 'add', a.text, 'dev', spec.name]);
  }
  plan.push(['ip', 'link', 'set', 'dev', spec.name, 'up']);
  for (const r of spec.routes.map(cidrOrThrow)) {
    // `replace` so a route the connected prefix already covers (or a restart) is not an error.
    plan.push(r.v6 ? ['ip', '-6', 'route', 'replace', r.network, 'dev', spec.name] : ['ip', 'route', 'replace', r.network, 'dev', spec.name]);
  }
  return plan;
}

/**
 * `ifconfig`/`route` commands for a FreeBSD tun(4). A tun is point-to-point: IPv4 needs a destination
 * address, for which the local address serves (routes then point at the interface, not the peer).
 */
export function planFreebsd(spec: IfconfigSpec): string[][] {
  const plan: string[][] = [['ifconfig', spec.name, 'mtu', String(spec.mtu)]];
  for (const a of spec.addresses.map(cidrOrThrow)) {
    plan.push(a.v6 ? ['ifconfig', spec.name, 'inet6', a.text, 'alias'] : ['ifconfig', spec.name, 'inet', a.text, a.host, 'alias']);
  }
  plan.push(['ifconfig', spec.name, 'up']);
  for (const r of spec.routes.map(cidrOrThrow)) {
    plan.push(['route', '-q', '-n', 'add', r.v6 ? '-inet6' : '-inet', r.network, '-interface', spec.name]);
  }
  return plan;
}

/** Runs each command in order; the first failure stops the plan with CG_COMMAND_FAILED and the tool's stderr. */
export async function applyPlan(plan: string[][]): Promise<void> {
  for (const [cmd, ...args] of plan) {
    if (!cmd) continue;
    try {
      await run(cmd, args, { timeout: 10_000 });
    } catch (cause) {
      const stderr = String((cause as { stderr?: unknown }).stderr ?? '').trim();
      throw new ConegateError('CG_COMMAND_FAILED', `${cmd} ${args.join(' ')} failed: ${stderr || String(cause)}`, { cause });
    }
  }
}

/** The plan for this platform. */
export function planFor(spec: IfconfigSpec): string[][] {
  return process.platform === 'freebsd' ? planFreebsd(spec) : planLinux(spec);
}
