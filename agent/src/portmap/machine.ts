/**
 * The Portmapper's decisions as a pure state machine: step(state, event, nowMs) -> { state, effects }.
 * The edge (portmapper.ts) performs the effects (probe, send a request, arm the one timer, tell the
 * mesh layer) and feeds back what happened as events. Nothing here reads a clock or touches a socket,
 * so every rule below is tested as "after Δ, event X" steps.
 *
 * Lifecycle: start -> probe every configured protocol at once -> map with the first available one in
 * `order` (falling through on failure) -> renew at half lifetime -> on epoch reset or a new external
 * address, re-create at once (RFC 6886 3.6, RFC 6887 8.5) and report the endpoint -> on stop, delete.
 */
import { checkEpoch, type EpochSample } from './epoch.ts';

export type Via = 'pcp' | 'natpmp' | 'upnp';

export interface MapWant {
  protocol: 'udp' | 'tcp';
  internalPort: number;
  /** Suggested external port for a new mapping (default: the internal port). */
  externalPort?: number;
  lifetimeSec: number;
}

export interface Endpoint {
  address: string;
  port: number;
  protocol: 'udp' | 'tcp';
  via: Via;
}

export interface Mapping extends Endpoint {
  /** Granted lifetime; 0 = permanent (UPnP v1 routers that only do permanent leases). */
  lifetimeSec: number;
  grantedAtMs: number;
  renewAtMs: number;
  /** When the gateway drops it unless renewed; Infinity for a permanent lease. */
  expiresAtMs: number;
}

export interface Timing {
  /** Renew after this instead of at half the granted lifetime, if sooner (tests, gateways that drop early). */
  renewAfterMs?: number;
  /** First wait before trying again when nothing could be mapped; doubles per failed round. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Wait before re-sending a failed renewal (the mapping is kept until it expires). */
  renewRetryMs: number;
}

export const DEFAULT_TIMING: Timing = { retryBaseMs: 30_000, retryMaxMs: 600_000, renewRetryMs: 15_000 };

type ProbeStatus = 'pending' | 'yes' | 'no';

export interface PortmapState {
  phase: 'idle' | 'probing' | 'mapping' | 'mapped' | 'waiting' | 'releasing' | 'stopped';
  order: Via[];
  timing: Timing;
  want?: MapWant;
  probes: Partial<Record<Via, ProbeStatus>>;
  /** Protocols whose map request failed in this round. */
  failedVia: Via[];
  /** The request in flight, if any; replies with another seq are stale and ignored. */
  inflight?: { seq: number; via: Via; kind: 'map' | 'unmap' };
  seq: number;
  mapping?: Mapping;
  /** The endpoint last reported to the mesh layer. */
  reported?: Endpoint;
  /** Last epoch seen per server, for RFC 6886 3.6 / RFC 6887 8.5 validation. */
  epochs: Partial<Record<'natpmp' | 'pcp', EpochSample>>;
  /** Set when the gateway was seen to lose state; the next grant is reported as re-created. */
  lostState: boolean;
  failedRounds: number;
  /** The one timer: when it fires, whatever is due (renew, retry, expiry) is done. */
  wakeAtMs?: number;
}

export type PortmapEvent =
  | { type: 'start'; want: MapWant }
  | { type: 'probed'; via: Via; ok: boolean; externalAddress?: string; epochSec?: number }
  | { type: 'granted'; seq: number; via: Via; externalAddress: string; externalPort: number; lifetimeSec: number; epochSec?: number }
  | { type: 'failed'; seq: number; via: Via; reason: string }
  | { type: 'timer' }
  | { type: 'announcement'; via: 'natpmp' | 'pcp'; epochSec: number; externalAddress?: string }
  | { type: 'addressChanged'; externalAddress: string }
  | { type: 'stateLost'; via: Via }
  | { type: 'stop' }
  | { type: 'released'; seq: number };

export type EndpointReason = 'created' | 'changed' | 'recreated' | 'lost';

export type PortmapEffect =
  | { type: 'probe'; via: Via }
  | { type: 'send'; request: { kind: 'map'; seq: number; via: Via; want: MapWant; externalPort: number; renew: boolean } }
  | { type: 'send'; request: { kind: 'unmap'; seq: number; via: Via; mapping: Mapping } }
  | { type: 'armTimer'; atMs: number }
  | { type: 'cancelTimer' }
  | { type: 'endpointChanged'; endpoint: Endpoint | undefined; reason: EndpointReason }
  | { type: 'epochReset'; via: Via; reason: string }
  /** No protocol could map this round; the next round starts at retryAtMs. */
  | { type: 'unavailable'; retryAtMs: number }
  | { type: 'stopped' };

export interface StepResult {
  state: PortmapState;
  effects: PortmapEffect[];
}

export function initialState(order: Via[], timing: Timing = DEFAULT_TIMING): PortmapState {
  return { phase: 'idle', order: [...order], timing, probes: {}, failedVia: [], seq: 0, epochs: {}, lostState: false, failedRounds: 0 };
}

export function step(state: PortmapState, event: PortmapEvent, nowMs: number): StepResult {
  const s: PortmapState = { ...state, probes: { ...state.probes }, epochs: { ...state.epochs }, failedVia: [...state.failedVia] };
  const fx: PortmapEffect[] = [];
  if (s.phase === 'stopped') return { state: s, effects: fx };
  switch (event.type) {
    case 'start':
      if (s.phase !== 'idle') break;
      s.want = event.want;
      startRound(s, fx);
      break;
    case 'probed':
      onProbed(s, event, nowMs, fx);
      break;
    case 'granted':
      onGranted(s, event, nowMs, fx);
      break;
    case 'failed':
      onFailed(s, event, nowMs, fx);
      break;
    case 'timer':
      onTimer(s, nowMs, fx);
      break;
    case 'announcement': {
      // First word from this server (e.g. PCP ANNOUNCE while we map with NAT-PMP or UPnP): its epoch
      // cannot be judged yet, but gateways announce after a reboot, so renew now and let that answer tell.
      const unknown = s.epochs[event.via] === undefined;
      const lost = noteEpoch(s, event.via, event.epochSec, nowMs, fx);
      const moved = event.externalAddress !== undefined && s.mapping !== undefined && event.externalAddress !== s.mapping.address;
      if (lost || moved || (unknown && s.mapping !== undefined)) remapNow(s, fx);
      break;
    }
    case 'addressChanged':
      if (s.mapping && event.externalAddress !== s.mapping.address) remapNow(s, fx);
      break;
    case 'stateLost':
      fx.push({ type: 'epochReset', via: event.via, reason: 'reported' });
      s.lostState = true;
      remapNow(s, fx);
      break;
    case 'stop':
      onStop(s, fx);
      break;
    case 'released':
      if (s.phase === 'releasing' && s.inflight?.seq === event.seq) finishStop(s, fx);
      break;
  }
  return { state: s, effects: fx };
}

function startRound(s: PortmapState, fx: PortmapEffect[]): void {
  s.phase = 'probing';
  s.failedVia = [];
  s.probes = {};
  for (const via of s.order) {
    s.probes[via] = 'pending';
    fx.push({ type: 'probe', via });
  }
  if (s.order.length === 0) giveUpRound(s, 0, fx);
}

/** Records an epoch; true (and an epochReset effect) if it shows the gateway lost its state. */
function noteEpoch(s: PortmapState, via: 'natpmp' | 'pcp', epochSec: number, nowMs: number, fx: PortmapEffect[]): boolean {
  const verdict = checkEpoch(via, s.epochs[via], epochSec, nowMs);
  s.epochs[via] = { epochSec, atMs: nowMs };
  if (verdict.ok) return false;
  fx.push({ type: 'epochReset', via, reason: verdict.reason });
  s.lostState = true;
  return true;
}

function onProbed(s: PortmapState, e: Extract<PortmapEvent, { type: 'probed' }>, nowMs: number, fx: PortmapEffect[]): void {
  if (e.ok && e.epochSec !== undefined && e.via !== 'upnp') noteEpoch(s, e.via, e.epochSec, nowMs, fx);
  if (s.probes[e.via] !== 'pending') return;
  // Recorded in any phase: a protocol that answers late is still a fallback if the chosen one fails.
  s.probes[e.via] = e.ok ? 'yes' : 'no';
  if (s.phase === 'probing') tryNext(s, nowMs, fx);
}

/** Sends a map request with the best protocol that is known to work; waits while a better one is still probing. */
function tryNext(s: PortmapState, nowMs: number, fx: PortmapEffect[]): void {
  for (const via of s.order) {
    if (s.failedVia.includes(via)) continue;
    const p = s.probes[via];
    if (p === 'pending') return;
    if (p === 'yes') {
      sendMap(s, via, false, fx);
      return;
    }
  }
  giveUpRound(s, nowMs, fx);
}

function sendMap(s: PortmapState, via: Via, renew: boolean, fx: PortmapEffect[]): void {
  const want = s.want!;
  const seq = ++s.seq;
  s.inflight = { seq, via, kind: 'map' };
  if (!s.mapping) s.phase = 'mapping';
  // Renewals ask for the port we hold; a new mapping asks for the internal port (RFC 6886 3.3 hint).
  const externalPort = s.mapping?.port ?? want.externalPort ?? want.internalPort;
  fx.push({ type: 'send', request: { kind: 'map', seq, via, want, externalPort, renew } });
}

function giveUpRound(s: PortmapState, nowMs: number, fx: PortmapEffect[]): void {
  s.phase = 'waiting';
  delete s.inflight;
  const delay = Math.min(s.timing.retryMaxMs, s.timing.retryBaseMs * 2 ** Math.min(s.failedRounds, 20));
  s.failedRounds++;
  fx.push({ type: 'unavailable', retryAtMs: nowMs + delay });
  arm(s, nowMs + delay, fx);
}

function arm(s: PortmapState, atMs: number, fx: PortmapEffect[]): void {
  s.wakeAtMs = atMs;
  fx.push({ type: 'armTimer', atMs });
}

function onGranted(s: PortmapState, e: Extract<PortmapEvent, { type: 'granted' }>, nowMs: number, fx: PortmapEffect[]): void {
  if (s.inflight?.seq !== e.seq || s.inflight.kind !== 'map') return;
  delete s.inflight;
  if (s.phase === 'releasing') {
    // Stopped while the first request was in flight: the gateway made it anyway, so delete it.
    s.mapping = { address: e.externalAddress, port: e.externalPort, protocol: s.want!.protocol, via: e.via, lifetimeSec: e.lifetimeSec, grantedAtMs: nowMs, renewAtMs: Infinity, expiresAtMs: Infinity };
    sendUnmap(s, fx);
    return;
  }
  if (e.epochSec !== undefined && e.via !== 'upnp') noteEpoch(s, e.via, e.epochSec, nowMs, fx);
  const want = s.want!;
  const lifetimeMs = e.lifetimeSec > 0 ? e.lifetimeSec * 1000 : Infinity;
  let renewInMs = e.lifetimeSec > 0 ? lifetimeMs / 2 : (want.lifetimeSec * 1000) / 2;
  if (s.timing.renewAfterMs !== undefined) renewInMs = Math.min(renewInMs, s.timing.renewAfterMs);
  const m: Mapping = {
    address: e.externalAddress,
    port: e.externalPort,
    protocol: want.protocol,
    via: e.via,
    lifetimeSec: e.lifetimeSec,
    grantedAtMs: nowMs,
    renewAtMs: nowMs + renewInMs,
    expiresAtMs: nowMs + lifetimeMs,
  };
  s.mapping = m;
  s.phase = 'mapped';
  s.failedRounds = 0;
  s.failedVia = [];
  const endpoint: Endpoint = { address: m.address, port: m.port, protocol: m.protocol, via: m.via };
  const prev = s.reported;
  const same = prev !== undefined && prev.address === endpoint.address && prev.port === endpoint.port && prev.via === endpoint.via;
  if (!same) fx.push({ type: 'endpointChanged', endpoint, reason: prev === undefined ? 'created' : 'changed' });
  else if (s.lostState) fx.push({ type: 'endpointChanged', endpoint, reason: 'recreated' });
  s.lostState = false;
  s.reported = endpoint;
  arm(s, m.renewAtMs, fx);
}

function onFailed(s: PortmapState, e: Extract<PortmapEvent, { type: 'failed' }>, nowMs: number, fx: PortmapEffect[]): void {
  if (s.inflight?.seq !== e.seq) return;
  if (s.inflight.kind === 'unmap' || s.phase === 'releasing') {
    finishStop(s, fx);
    return;
  }
  delete s.inflight;
  if (s.mapping) {
    // A failed renewal keeps the mapping until it expires (the gateway may just be slow or busy).
    // Never wait longer than the renewal interval itself: a short interval (tests, flaky gateways) means "check often".
    const retryMs = Math.min(s.timing.renewRetryMs, s.timing.renewAfterMs ?? Infinity);
    arm(s, Math.min(nowMs + retryMs, s.mapping.expiresAtMs), fx);
    return;
  }
  s.failedVia.push(e.via);
  // Back to choosing: if a fallback is still being probed, its answer continues the round.
  s.phase = 'probing';
  tryNext(s, nowMs, fx);
}

function onTimer(s: PortmapState, nowMs: number, fx: PortmapEffect[]): void {
  if (s.wakeAtMs === undefined) return;
  if (nowMs < s.wakeAtMs) {
    // Timers may fire a fraction of a millisecond early against a finer clock: wait the rest, never drop it.
    fx.push({ type: 'armTimer', atMs: s.wakeAtMs });
    return;
  }
  delete s.wakeAtMs;
  if (s.phase === 'waiting') {
    startRound(s, fx);
    return;
  }
  if (!s.mapping || s.inflight) return;
  if (nowMs >= s.mapping.expiresAtMs) {
    loseMapping(s, fx);
    startRound(s, fx);
    return;
  }
  sendMap(s, s.mapping.via, true, fx);
}

function loseMapping(s: PortmapState, fx: PortmapEffect[]): void {
  delete s.mapping;
  delete s.reported;
  fx.push({ type: 'endpointChanged', endpoint: undefined, reason: 'lost' });
}

/** Gateway lost state or changed address: re-create now rather than at the next renewal. */
function remapNow(s: PortmapState, fx: PortmapEffect[]): void {
  if (s.phase === 'waiting') {
    startRound(s, fx);
    return;
  }
  if (!s.mapping || s.inflight || s.phase === 'releasing') return;
  if (s.wakeAtMs !== undefined) {
    delete s.wakeAtMs;
    fx.push({ type: 'cancelTimer' });
  }
  sendMap(s, s.mapping.via, true, fx);
}

function onStop(s: PortmapState, fx: PortmapEffect[]): void {
  if (s.phase === 'releasing') return;
  if (s.wakeAtMs !== undefined) {
    delete s.wakeAtMs;
    fx.push({ type: 'cancelTimer' });
  }
  if (s.mapping) {
    sendUnmap(s, fx);
    return;
  }
  if (s.inflight?.kind === 'map') {
    // Wait for the first grant (then delete it) or its failure, so no mapping is left behind.
    s.phase = 'releasing';
    return;
  }
  finishStop(s, fx);
}

function sendUnmap(s: PortmapState, fx: PortmapEffect[]): void {
  const mapping = s.mapping!;
  const seq = ++s.seq;
  s.inflight = { seq, via: mapping.via, kind: 'unmap' };
  s.phase = 'releasing';
  fx.push({ type: 'send', request: { kind: 'unmap', seq, via: mapping.via, mapping } });
}

function finishStop(s: PortmapState, fx: PortmapEffect[]): void {
  s.phase = 'stopped';
  delete s.inflight;
  delete s.mapping;
  fx.push({ type: 'stopped' });
}
