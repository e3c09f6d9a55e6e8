/**
 * Which approved subnet routes of peers this node takes (`mesh.acceptRoutes`). Never a prefix that
 * contains one of this node's own addresses: a second router on a site (advertising the same LAN as the
 * primary) or a host on that LAN would otherwise send its own LAN, and the replies of its neighbours,
 * into the tunnel; a prefix over the mesh's own addresses would swallow the mesh; and a default route
 * (which contains every address) is an exit node, which this is not.
 */
import { cidrContains, parseCidr, parseIp } from '../net/ip.ts';

/** `own`: this node's addresses (interface and mesh addresses; with or without a prefix length). */
export function acceptableRoute(cidr: string, own: readonly string[]): boolean {
  const c = parseCidr(cidr, { loose: true });
  if (!c || c.prefixLen === 0) return false;
  for (const text of own) {
    const ip = parseIp(text.split('/')[0]!.split('%')[0]!);
    if (ip && ip.family === c.family && cidrContains(c, ip.bytes)) return false;
  }
  return true;
}

export function acceptedRoutes(routes: readonly string[], own: readonly string[]): string[] {
  return routes.filter((r) => acceptableRoute(r, own));
}
