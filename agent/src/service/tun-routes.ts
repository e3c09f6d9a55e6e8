/**
 * Routes into the mesh TUN for peers' allowed IPs, added and removed as the map changes. Pure plans
 * (argv lists) per platform plus a runner; the node runs them only with a real TUN.
 */
import { ConegateError } from '../errors.ts';
import { spawnRunner, type CommandRunner } from '../fw/run.ts';
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

/**
 * Linux: the whole plan in one `ip -force -batch -` (one process for any number of peers; forking the
 * agent once per route cost ~10 ms of its event loop each, 16 times when 8 peers arrived at once).
 * `-force` goes on past a failed line; the family comes from each address (no -6 inside a batch).
 */
export function routeBatch(plan: string[][]): string | undefined {
  if (!plan.length || plan.some((step) => step[0] !== 'ip')) return undefined;
  return plan.map((step) => step.slice(1).filter((a) => a !== '-6').join(' ')).join('\n') + '\n';
}

async function runStep(runner: CommandRunner, step: string[], onError: (err: Error) => void): Promise<void> {
  try {
    const r = await runner(step);
    if (r.code !== 0) onError(new ConegateError('CG_COMMAND_FAILED', `${step.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`));
  } catch (err) {
    onError(err as Error);
  }
}

/**
 * Runs the plan: one batch on Linux. Step by step elsewhere, and after a batch that failed anywhere: each
 * step on its own (one route that is already gone must not keep the others from going), so every error
 * names its route, and an ip(8) without -batch (BusyBox's) still gets the routes in.
 */
export async function applyRoutes(plan: string[][], onError: (err: Error) => void, runner: CommandRunner = spawnRunner(10_000, 'Debian: iproute2; FreeBSD: in base')): Promise<void> {
  const batch = routeBatch(plan);
  if (batch !== undefined && (await runner(['ip', '-force', '-batch', '-'], batch).catch(() => undefined))?.code === 0) return;
  for (const step of plan) await runStep(runner, step, onError);
}

/**
 * Kernel routes follow the union of every peer's allowed IPs, not per-peer adds and deletes: a prefix
 * that moves from one router to another (failover) in two map updates must not be deleted by the
 * second update after the first one routed it to the new owner.
 */
export function routeChanges(installed: ReadonlySet<string>, wanted: ReadonlySet<string>): { add: string[]; del: string[] } {
  return { add: [...wanted].filter((c) => !installed.has(c)), del: [...installed].filter((c) => !wanted.has(c)) };
}
