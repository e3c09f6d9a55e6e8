/**
 * How a region's latency is measured: STUN at the relay's STUN address when it has one and no HTTP
 * proxy stands between us and the relay (a proxy passes no UDP), HTTPS `HEAD /relay/latency` otherwise,
 * and HTTPS too when STUN has not answered within 3 s (UDP blocked; tailscale netcheck's rule).
 * STUN retransmits from 100 ms, doubling (sends at 0, 100, 300, 700, 1500 ms), not from RFC 8489's
 * 500 ms: netcheck starts at 100 ms too, and a probe that waits seconds measures nothing useful.
 */
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { realClock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import type { RelayNode } from '../../coord/protocol.ts';
import { parseHostPort } from '../../net/ip.ts';
import { StunClient } from '../../stun/client.ts';
import { openDgramBind } from '../../stun/dgram-bind.ts';
import { probeLatency, relayHostPort } from './dial.ts';
import { resolveProxy, type ProxySources } from './proxy.ts';

export const PROBE = { stunGiveUpMs: 3_000, stunRetransmit: { rtoMs: 100, rc: 5, rm: 8, deadlineMs: 3_000 } } as const;

/** One STUN binding to the relay's STUN address; the round-trip time in ms. */
export async function stunLatency(stun: string, signal: AbortSignal): Promise<number> {
  const hp = parseHostPort(stun);
  if (!hp) throw new ConegateError('CG_INPUT_INVALID', `relay STUN address "${stun}" is not host:port`);
  const address = isIP(hp.host) ? hp.host : (await lookup(hp.host)).address;
  const bind = await openDgramBind(isIP(address) === 6 ? '::' : '0.0.0.0');
  const client = new StunClient({ bind, clock: realClock, randomBytes: (n) => new Uint8Array(randomBytes(n)) });
  try {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(PROBE.stunGiveUpMs)]);
    const out = await client.binding({ address, port: hp.port }, { retransmit: PROBE.stunRetransmit, signal: deadline });
    if (!out.ok) throw new ConegateError('CG_TIMEOUT', `no STUN answer from the relay at ${stun} (${out.reason})`);
    return out.rttMs;
  } finally {
    client.close();
    await bind.close();
  }
}

/** The probe the relay client uses: STUN when it can work, else (or after it failed) HTTPS. */
export function relayProbe(proxy: ProxySources): (node: RelayNode, signal: AbortSignal) => Promise<number> {
  return async (node, signal) => {
    const { host, port } = relayHostPort(node.url);
    if (node.stun && !resolveProxy(host, port, proxy)) {
      try {
        return await stunLatency(node.stun, signal);
      } catch (err) {
        if (signal.aborted) throw err;
      }
    }
    return probeLatency(node, { proxy, signal });
  };
}
