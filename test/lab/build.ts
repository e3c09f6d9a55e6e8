/**
 * Turns a Plan into namespaces, bridges, veth pairs, addresses, routes and router rulesets.
 * Steps run in parallel across namespaces; each step is one `ip -batch` (or one shell) per namespace
 * to keep a two-site lab's build well under a second.
 */
import { ConegateError } from '../../agent/src/errors.ts';
import { execIn } from './proc.ts';
import type { Plan, PlanNode } from './plan.ts';
import { routerRuleset } from './nat-rules.ts';

type NsOf = (node: string) => string;

/** Like Promise.all, but settles every step first: a failed build must know every namespace it made. */
async function allSettled(steps: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function ipBatch(netns: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await execIn(null, ['ip', '-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n', check: true });
}

function sysctlScript(n: PlanNode): string {
  const set: Array<[string, string]> = [
    // No DAD: addresses are usable at once (no 1-2 s "tentative" wait), and no router advertisements.
    ['net/ipv6/conf/default/accept_dad', '0'],
    ['net/ipv6/conf/all/accept_dad', '0'],
    ['net/ipv6/conf/default/accept_ra', '0'],
    ['net/ipv4/ip_forward', n.forwarding ? '1' : '0'],
    ['net/ipv6/conf/all/forwarding', n.forwarding && n.ipv6 ? '1' : '0'],
    // The internet node routes between hosts on one bridge: redirects would only confuse captures.
    ['net/ipv4/conf/all/send_redirects', '0'],
    // With br_netfilter loaded, bridged frames would otherwise cross the IP hooks of the bridge's namespace.
    ['net/bridge/bridge-nf-call-iptables', '0'],
    ['net/bridge/bridge-nf-call-ip6tables', '0'],
  ];
  return set.map(([k, v]) => `[ -w /proc/sys/${k} ] && echo ${v} > /proc/sys/${k}`).join('; ') + '; ip link set lo up';
}

function addrLines(dev: string, i: { v4?: string; v4Prefix?: number; v6?: string; v6Prefix?: number }, ipv6: boolean): string[] {
  const out: string[] = [];
  if (i.v4) out.push(`addr add ${i.v4}/${i.v4Prefix ?? 24} dev ${dev}`);
  if (ipv6 && i.v6) out.push(`addr add ${i.v6}/${i.v6Prefix ?? 64} dev ${dev} nodad`);
  return out;
}

/** Creates every namespace of the plan; on failure the caller destroys what was made. */
export async function buildPlan(plan: Plan, nsOf: NsOf, created: (netns: string) => void): Promise<void> {
  const byName = new Map(plan.nodes.map((n) => [n.name, n]));
  await allSettled(
    plan.nodes.map(async (n) => {
      await execIn(null, ['ip', 'netns', 'add', nsOf(n.name)], { check: true });
      created(nsOf(n.name));
    }),
  );
  await allSettled(plan.nodes.map((n) => execIn(nsOf(n.name), ['sh', '-c', sysctlScript(n)], { check: true })));
  // Bridges, then veth pairs created from the upstream side straight into both namespaces.
  await allSettled(
    plan.nodes.map((n) => {
      if (!n.bridge) return Promise.resolve();
      const lines = [`link add ${n.bridge.name} type bridge`, `link set ${n.bridge.name} up`, ...addrLines(n.bridge.name, n.bridge, n.ipv6)];
      for (const child of plan.nodes) {
        if (child.uplink?.upstream !== n.name) continue;
        const p = child.uplink.port;
        lines.push(`link add ${p} type veth peer name ${child.uplink.name} netns ${nsOf(child.name)}`, `link set ${p} master ${n.bridge.name}`, `link set ${p} up`);
      }
      return ipBatch(nsOf(n.name), lines);
    }),
  );
  await allSettled(
    plan.nodes.map((n) => {
      const lines: string[] = [];
      if (n.uplink) {
        const u = n.uplink;
        if (!byName.has(u.upstream)) throw new ConegateError('CG_INTERNAL', `lab plan: ${n.name} has unknown upstream ${u.upstream}`);
        lines.push(`link set ${u.name} up`, ...addrLines(u.name, u, n.ipv6));
        if (n.alt4) lines.push(`addr add ${n.alt4}/32 dev ${u.name}`);
        lines.push(`route add default via ${u.gw4}`);
        if (n.ipv6 && u.gw6) lines.push(`route add ::/0 via ${u.gw6}`);
      }
      for (const [net, dev] of n.onlink4) lines.push(`route add ${net} dev ${dev}`);
      if (n.ipv6) for (const [net, via] of n.routes6) lines.push(`route add ${net} via ${via}`);
      return ipBatch(nsOf(n.name), lines);
    }),
  );
  await allSettled(
    plan.nodes.map((n) => {
      if (!n.nat || !n.uplink || !n.bridge || !n.lanNet4) return Promise.resolve();
      const text = routerRuleset({
        wanIf: n.uplink.name,
        lanIf: n.bridge.name,
        wan4: n.uplink.v4!,
        lanNet4: n.lanNet4,
        nat: n.nat,
        firewall: n.firewall ?? 'none',
        ipv6Inbound: n.ipv6Inbound ?? 'stateful',
      });
      return execIn(nsOf(n.name), ['nft', '-f', '-'], { input: text, check: true });
    }),
  );
}
