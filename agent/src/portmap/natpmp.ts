/**
 * NAT-PMP client (RFC 6886) on the shared codec (agent/src/pmp/codec.ts). Written here instead of
 * using the npm nat-pmp package: that package never tracks the epoch, binds the fixed port 5350
 * (clashing with any local listener), has no retransmits, and a 3-byte reply throws out of the
 * process. Here every request follows the RFC 6886 3.1 schedule from an ephemeral port, every reply
 * is decoded by a decoder that only throws DecodeError, and the epoch goes back to the caller.
 */
import { realClock, type Clock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import { formatIp } from '../net/ip.ts';
import { decodePmpResponse, encodePmpRequest, PMP_SERVER_PORT, PmpOpcode, PmpResult, pmpResultName, type PmpResponse } from '../pmp/codec.ts';
import { natpmpSchedule, type RetransmitSchedule } from './schedule.ts';
import { udpExchange } from './udp.ts';

export interface NatpmpOptions {
  gateway: string;
  /** Server port (5351; tests use a fake on an ephemeral port). */
  port?: number;
  clock?: Clock;
  /** Default: the full RFC 6886 schedule (9 sends, 127.75 s). */
  schedule?: RetransmitSchedule;
  signal?: AbortSignal;
}

/** The gateway refused a request with a NAT-PMP result code. */
export class NatpmpError extends ConegateError {
  override readonly name = 'NatpmpError';
  constructor(
    readonly result: number,
    what: string,
  ) {
    super('CG_COMMAND_FAILED', `NAT-PMP ${what} refused by the gateway: ${pmpResultName(result)}`, { context: { result } });
  }
}

async function exchange(opts: NatpmpOptions, request: Uint8Array, match: (r: PmpResponse) => boolean): Promise<{ resp: PmpResponse; localAddress: string }> {
  const reply = await udpExchange({
    clock: opts.clock ?? realClock,
    server: { address: opts.gateway, port: opts.port ?? PMP_SERVER_PORT },
    request: () => request,
    schedule: opts.schedule ?? natpmpSchedule(),
    accept: (b) => {
      const r = decodePmpResponse(b);
      return match(r) ? r : undefined;
    },
    signal: opts.signal,
  });
  return { resp: reply.value, localAddress: reply.localAddress };
}

export interface NatpmpAddress {
  externalAddress: string;
  epochSec: number;
  localAddress: string;
}

/** Public address request (opcode 0): the gateway's external IPv4 and its epoch. */
export async function natpmpExternalAddress(opts: NatpmpOptions): Promise<NatpmpAddress> {
  const { resp, localAddress } = await exchange(opts, encodePmpRequest({ kind: 'publicAddress' }), (r) => r.kind === 'publicAddress' || (r.kind === 'error' && r.opcode === PmpOpcode.PUBLIC_ADDRESS));
  if (resp.result !== PmpResult.SUCCESS || resp.kind !== 'publicAddress') throw new NatpmpError(resp.result, 'public address request');
  return { externalAddress: formatIp(resp.externalAddress), epochSec: resp.epochSec, localAddress };
}

export interface NatpmpMapRequest {
  protocol: 'udp' | 'tcp';
  internalPort: number;
  suggestedExternalPort: number;
  /** 0 deletes the mapping (RFC 6886 3.4). */
  lifetimeSec: number;
}

export interface NatpmpMapResult {
  externalPort: number;
  lifetimeSec: number;
  epochSec: number;
}

/** Map request (opcode 1/2). Replies for another protocol or internal port are ignored (RFC 6886 3.3). */
export async function natpmpMap(req: NatpmpMapRequest, opts: NatpmpOptions): Promise<NatpmpMapResult> {
  const opcode = req.protocol === 'udp' ? PmpOpcode.MAP_UDP : PmpOpcode.MAP_TCP;
  const bytes = encodePmpRequest({ kind: 'map', ...req });
  const { resp } = await exchange(opts, bytes, (r) => (r.kind === 'map' && r.protocol === req.protocol && r.internalPort === req.internalPort) || (r.kind === 'error' && r.opcode === opcode));
  if (resp.result !== PmpResult.SUCCESS || resp.kind !== 'map') throw new NatpmpError(resp.result, req.lifetimeSec === 0 ? 'delete' : 'map request');
  return { externalPort: resp.externalPort, lifetimeSec: resp.lifetimeSec, epochSec: resp.epochSec };
}
