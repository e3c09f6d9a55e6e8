/**
 * Routes into the mesh TUN for peers' allowed IPs, added and removed as the map changes. Pure plans
 * (argv lists) per platform plus a runner; the node runs them only with a real TUN.
 */
import { applyPlan } from '../tun/ifconfig.ts';
import { formatCidr, parseCidr } from '../net/ip.ts';

export function routePlan(op: 'add' | 'del', ifname: string, cidrs: string[], platform: NodeJS.Platform = process.platform): string[][] {
  const plan: string[][] = [];
  for (const text of cidrs) {
    const c = parseCidr(text, { loose: true });
    if (!c || c.prefixLen === 0) continue; // never a default route through the mesh (no policy routing yet)
    const net = formatCidr(c);
    if (platform === 'freebsd') plan.push(['route', '-q', '-n', op === 'add' ? 'add' : 'delete', c.family === 6 ? '-inet6' : '-inet', net, '-interface', ifname]);
    else plan.push(['ip', ...(c.family === 6 ? ['-6'] : []), 'route', op === 'add' ? 'replace' : 'del', net, 'dev', ifname]);
  }
  return plan;
}

/** Runs each step on its own: one route that is already gone must not keep the others from going. */
export async function applyRoutes(plan: string[][], onError: (err: Error) => void): Promise<void> {
  for (const step of plan) await applyPlan([step]).catch(onError);
}

/**
 * Kernel routes follow the union of every peer's allowed IPs, not per-peer adds and deletes: a prefix
 * that moves from one router to another (failover) in two map updates must not be deleted by the
 * second update after the first one routed it to the new owner.
 */
export function routeChanges(installed: ReadonlySet<string>, wanted: ReadonlySet<string>): { add: string[]; del: string[] } {
  return { add: [...wanted].filter((c) => !installed.has(c)), del: [...installed].filter((c) => !wanted.has(c)) };
}
