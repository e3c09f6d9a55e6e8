/** Map fixtures shared by the node tests. */
import type { Peer } from '../coord/protocol.ts';

export const k = (c: string) => c.repeat(64);
export function peer(id: string, n: number, over: Partial<Peer> = {}): Peer {
  return {
    id,
    name: `n${n}`,
    nodeKey: k(String(n % 10)),
    discoKey: k('d'),
    addresses: [`100.64.0.${n}/32`],
    routes: [],
    endpoints: [{ addr: `203.0.113.${n}:41641`, type: 'local' }],
    homeRelay: null,
    online: true,
    lastSeenMs: 0,
    ...over,
  };
}
