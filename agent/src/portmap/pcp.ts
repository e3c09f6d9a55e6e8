/**
 * PCP client (RFC 6887) on the shared codec (agent/src/pcp/codec.ts): ANNOUNCE to probe for a server
 * and learn its epoch, MAP to create, renew (same nonce) and delete (lifetime 0) a mapping.
 * Retransmission follows RFC 6887 8.1.1 with a bounded count (see schedule.ts).
 */
import { realClock, type Clock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { bytesEqual, formatIp, fromMappedV6, parseIp, toMappedV6 } from '../net/ip.ts';
import { decodePcpResponse, encodePcpRequest, PCP_SERVER_PORT, PcpProtocolNumber, PcpResult, pcpResultName, type PcpResponse } from '../pcp/codec.ts';
import { pcpSchedule, type RetransmitSchedule } from './schedule.ts';
import { udpExchange } from './udp.ts';

export interface PcpOptions {
  gateway: string;
  port?: number;
  clock?: Clock;
  /** Default: RFC 6887 8.1.1 with 4 sends (about 45 s). */
  schedule?: RetransmitSchedule;
  /** For the schedule's jitter when none is given. */
  random?: () => number;
  signal?: AbortSignal;
}

/** The server answered with a PCP result code other than SUCCESS, or does not speak PCP. */
export class PcpError extends ConegateError {
  override readonly name = 'PcpError';
  constructor(
    readonly result: number | 'nat-pmp-only',
    what: string,
  ) {
    super('CG_COMMAND_FAILED', result === 'nat-pmp-only' ? `PCP ${what}: the gateway speaks only NAT-PMP` : `PCP ${what} refused by the gateway: ${pcpResultName(result)}`, { context: { result } });
  }
}

/** Our address as PCP carries it: 16 bytes, IPv4 as ::ffff:a.b.c.d (RFC 6887 5). */
function clientAddressBytes(localAddress: string): Uint8Array {
  const ip = parseIp(localAddress.replace(/^::ffff:/i, ''));
  if (!ip) throw new ConegateError('CG_NETWORK', `cannot use local address ${localAddress} as PCP client address`);
  return ip.family === 4 ? toMappedV6(ip.bytes) : ip.bytes;
}

type Reply = { pmpOnly: true } | { pmpOnly: false; resp: PcpResponse };

async function exchange(opts: PcpOptions, build: (clientAddress: Uint8Array) => Uint8Array, match: (r: PcpResponse) => boolean): Promise<Reply> {
  const random = opts.random ?? Math.random;
  const reply = await udpExchange<Reply>({
    clock: opts.clock ?? realClock,
    server: { address: opts.gateway, port: opts.port ?? PCP_SERVER_PORT },
    request: (local) => build(clientAddressBytes(local)),
    schedule: opts.schedule ?? pcpSchedule(random),
    accept: (b) => {
      // RFC 6887 9: a NAT-PMP-only server answers version 2 with a version-0 UNSUPP_VERSION reply.
      if (b.length >= 4 && b[0] === 0 && (b[1]! & 0x80) !== 0) return { pmpOnly: true };
      const r = decodePcpResponse(b);
      return match(r) ? { pmpOnly: false, resp: r } : undefined;
    },
    signal: opts.signal,
  });
  return reply.value;
}

export interface PcpAnnounceResult {
  epochSec: number;
}

/** ANNOUNCE request (RFC 6887 14.1): cheapest way to learn that a PCP server is there, and its epoch. */
export async function pcpAnnounce(opts: PcpOptions): Promise<PcpAnnounceResult> {
  const r = await exchange(opts, (clientAddress) => encodePcpRequest({ opcode: 'announce', lifetimeSec: 0, clientAddress, options: [] }), (resp) => resp.opcode === 'announce' || resp.opcode === 'other');
  if (r.pmpOnly) throw new PcpError('nat-pmp-only', 'announce');
  if (r.resp.result !== PcpResult.SUCCESS) throw new PcpError(r.resp.result, 'announce');
  return { epochSec: r.resp.epochSec };
}

export interface PcpMapRequest {
  /** 12 random bytes, the same for every renewal of this mapping (RFC 6887 11.1). */
  nonce: Uint8Array;
  protocol: 'udp' | 'tcp';
  internalPort: number;
  suggestedExternalPort: number;
  /** Suggested external IPv4/IPv6 text; default: no preference (all zeros, IPv4-mapped). */
  suggestedExternalAddress?: string;
  /** 0 deletes. */
  lifetimeSec: number;
}

export interface PcpMapResult {
  externalAddress: string;
  externalPort: number;
  lifetimeSec: number;
  epochSec: number;
}

/** MAP request; only a reply echoing our nonce, protocol and internal port is accepted (RFC 6887 11.4). */
export async function pcpMap(req: PcpMapRequest, opts: PcpOptions): Promise<PcpMapResult> {
  const protocol = req.protocol === 'udp' ? PcpProtocolNumber.UDP : PcpProtocolNumber.TCP;
  const sugg = req.suggestedExternalAddress !== undefined ? parseIp(req.suggestedExternalAddress) : undefined;
  const externalAddress = sugg ? (sugg.family === 4 ? toMappedV6(sugg.bytes) : sugg.bytes) : toMappedV6(new Uint8Array(4));
  const r = await exchange(
    opts,
    (clientAddress) =>
      encodePcpRequest({
        opcode: 'map',
        lifetimeSec: req.lifetimeSec,
        clientAddress,
        options: [],
        map: { nonce: req.nonce, protocol, internalPort: req.internalPort, externalPort: req.suggestedExternalPort, externalAddress },
      }),
    (resp) => resp.opcode === 'map' && bytesEqual(resp.map.nonce, req.nonce) && resp.map.protocol === protocol && resp.map.internalPort === req.internalPort,
  );
  const what = req.lifetimeSec === 0 ? 'delete' : 'map request';
  if (r.pmpOnly) throw new PcpError('nat-pmp-only', what);
  if (r.resp.result !== PcpResult.SUCCESS || r.resp.opcode !== 'map') throw new PcpError(r.resp.result, what);
  const v4 = fromMappedV6(r.resp.map.externalAddress);
  return { externalAddress: formatIp(v4 ?? r.resp.map.externalAddress), externalPort: r.resp.map.externalPort, lifetimeSec: r.resp.lifetimeSec, epochSec: r.resp.epochSec };
}
