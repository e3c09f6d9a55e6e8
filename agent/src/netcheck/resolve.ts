/** Host names to UDP endpoints (both families), for --stun HOST:PORT and the config's stunServers. */
import { lookup } from 'node:dns/promises';
import { ConegateError } from '../errors.ts';
import { parseIp } from '../net/ip.ts';
import { canonicalIp, type UdpEndpoint } from '../stun/bind.ts';

/** Every address of host (a literal IP resolves to itself); CG_NETWORK if the name does not resolve. */
export async function resolveEndpoint(host: string, port: number): Promise<UdpEndpoint[]> {
  if (parseIp(host)) return [{ address: canonicalIp(host), port }];
  try {
    const all = await lookup(host, { all: true, verbatim: true });
    if (all.length === 0) throw new Error('no addresses');
    return all.map((a) => ({ address: canonicalIp(a.address), port }));
  } catch (e) {
    throw new ConegateError('CG_NETWORK', `cannot resolve STUN server ${host}: ${(e as Error).message}`, { cause: e });
  }
}
