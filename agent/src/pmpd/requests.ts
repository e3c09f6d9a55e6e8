/**
 * Per-protocol request handling (RFC 6886 3.2-3.5, RFC 6887 8.3): classify, decode, validate, then
 * hand the policy request to the core's act() and encode the answer. Drops return undefined.
 */
import type { Logger } from '../log/logger.ts';
import { DecodeError } from '../errors.ts';
import { PMP_RESPONSE_BIT, PmpResult, decodePmpRequest, encodePmpResponse, encodePmpUnsupportedOpcode, pmpResultName } from '../pmp/codec.ts';
import { PcpResult, decodePcpRequest, encodePcpErrorResponse, encodePcpResponse, pcpErrorResultOf, pcpResultName } from '../pcp/codec.ts';
import { REFUSALS, type Decision, type MappingRequest } from './policy.ts';
import { checkPcpOptions, pcpDeleteResponse, pcpGrantResponse, pcpMappingRequest } from './pcpreq.ts';

/** Largest packet looked at; PCP's limit (RFC 6887 7). */
export const MAX_PACKET = 1100;

export interface Source {
  address: string;
  port: number;
}

/** What the handlers need from the core. */
export interface RequestContext {
  log: Logger;
  epochSec(): number;
  externalAddress(): string | undefined;
  publicAddress(src: Source): Uint8Array;
  /** Decides with the policy and applies the decision to firewall and table. */
  act(req: MappingRequest): Promise<Decision>;
  logDecision(src: Source, via: 'pmp' | 'pcp', what: string, result: string, detail: string): void;
}

export async function handlePmp(ctx: RequestContext, b: Uint8Array, src: Source): Promise<Uint8Array | undefined> {
  const epochSec = ctx.epochSec();
  const op = b[1]!;
  if (op & PMP_RESPONSE_BIT || b.length > MAX_PACKET) return undefined; // RFC 6886 3.5: ignore responses
  let req;
  try {
    req = decodePmpRequest(b);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    if (op > 2) {
      ctx.logDecision(src, 'pmp', `opcode ${op}`, pmpResultName(PmpResult.UNSUPPORTED_OPCODE), err.reason);
      return encodePmpUnsupportedOpcode(b, epochSec);
    }
    ctx.log.debug({ client: src.address, reason: err.reason }, 'pmpd: malformed nat-pmp request dropped');
    return undefined;
  }
  if (req.kind === 'publicAddress') return ctx.publicAddress(src);
  const mreq: MappingRequest = {
    via: 'pmp',
    client: src.address,
    internalAddress: src.address,
    thirdParty: false,
    protocolNumber: req.protocol === 'udp' ? 17 : 6,
    internalPort: req.internalPort,
    suggestedExternalPort: req.suggestedExternalPort,
    lifetimeSec: req.lifetimeSec,
    filterCount: 0,
    preferFailure: false,
  };
  const outcome = await ctx.act(mreq);
  const answer = (result: number, externalPort: number, lifetimeSec: number): Uint8Array =>
    encodePmpResponse({ kind: 'map', protocol: req.protocol, result, epochSec: ctx.epochSec(), internalPort: req.internalPort, externalPort, lifetimeSec });
  const what = `${req.protocol} ${req.internalPort}->${req.suggestedExternalPort} ${req.lifetimeSec}s`;
  if (outcome.kind === 'refuse') {
    const code = REFUSALS[outcome.refusal].pmp;
    ctx.logDecision(src, 'pmp', what, pmpResultName(code), outcome.detail);
    return answer(code, 0, 0);
  }
  if (outcome.kind === 'delete') {
    ctx.logDecision(src, 'pmp', what, 'SUCCESS', `deleted ${outcome.mappings.length}`);
    return answer(PmpResult.SUCCESS, 0, 0);
  }
  ctx.logDecision(src, 'pmp', what, 'SUCCESS', `${outcome.renewal ? 'renewed' : 'granted'} external ${outcome.mapping.externalPort} for ${outcome.mapping.lifetimeSec}s`);
  return answer(PmpResult.SUCCESS, outcome.mapping.externalPort, outcome.mapping.lifetimeSec);
}

export async function handlePcp(ctx: RequestContext, b: Uint8Array, src: Source): Promise<Uint8Array | undefined> {
  const epochSec = ctx.epochSec();
  let req;
  try {
    req = decodePcpRequest(b);
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    const result = pcpErrorResultOf(err);
    if (result === undefined) return undefined;
    ctx.logDecision(src, 'pcp', `version ${b[0]} opcode ${b[1]! & 0x7f}`, pcpResultName(result), err.reason);
    return encodePcpErrorResponse(b, result, epochSec, { parsed: false });
  }
  const optionError = checkPcpOptions(req);
  if (optionError) {
    ctx.logDecision(src, 'pcp', req.opcode, pcpResultName(optionError.result), optionError.detail);
    return encodePcpErrorResponse(b, optionError.result, epochSec);
  }
  if (req.opcode === 'announce') {
    return encodePcpResponse({ opcode: 'announce', result: PcpResult.SUCCESS, lifetimeSec: 0, epochSec, options: [] });
  }
  const nonce = Buffer.from(req.opcode === 'map' ? req.map.nonce : req.peer.nonce).toString('hex');
  const check = pcpMappingRequest(req, src.address, nonce);
  if (!check.ok) {
    ctx.logDecision(src, 'pcp', req.opcode, pcpResultName(check.result), check.detail);
    return encodePcpErrorResponse(b, check.result, epochSec);
  }
  const r = check.request;
  const what = `${req.opcode} proto ${r.protocolNumber} ${r.internalAddress}:${r.internalPort}->${r.suggestedExternalPort} ${r.lifetimeSec}s${r.remote ? ` peer ${r.remote.address}/${r.remote.prefixLength}:${r.remote.port}` : ''}`;
  const outcome = await ctx.act(r);
  if (outcome.kind === 'refuse') {
    const code = REFUSALS[outcome.refusal].pcp;
    ctx.logDecision(src, 'pcp', what, pcpResultName(code), outcome.detail);
    return encodePcpErrorResponse(b, code, ctx.epochSec());
  }
  if (outcome.kind === 'delete') {
    ctx.logDecision(src, 'pcp', what, 'SUCCESS', `deleted ${outcome.mappings.length}`);
    return pcpDeleteResponse(req, ctx.epochSec());
  }
  ctx.logDecision(src, 'pcp', what, 'SUCCESS', `${outcome.renewal ? 'renewed' : 'granted'} external ${outcome.mapping.externalPort} for ${outcome.mapping.lifetimeSec}s`);
  return pcpGrantResponse(req, outcome.mapping, ctx.externalAddress()!, ctx.epochSec());
}

/** Decides and applies to backend then table; a backend failure leaves both as they were. */
