/**
 * Pure view helpers of the page: how numbers, times and paths read in an admin's table. No DOM, no
 * clock: every "now" is passed in, so the same text comes out in a unit test and in the browser.
 */
import type { PagePeer } from '../src/web/model.ts';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB"; binary units because WireGuard counters and `wg show` use them. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** 3725 -> "1 h 2 min"; two units at most, the way an admin reads an uptime. */
export function formatDuration(totalSec: number | null): string {
  if (totalSec === null || !Number.isFinite(totalSec) || totalSec < 0) return '–';
  const sec = Math.floor(totalSec);
  if (sec < 60) return `${sec} s`;
  const parts: [number, string][] = [
    [Math.floor(sec / 86400), 'd'],
    [Math.floor((sec % 86400) / 3600), 'h'],
    [Math.floor((sec % 3600) / 60), 'min'],
    [sec % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n} ${u}`)
    .join(' ');
}

/** Time since an ISO instant: "12 s ago"; "never" for null; a future instant (clock skew) reads "just now". */
export function formatAgo(iso: string | null, nowMs: number): string {
  if (iso === null) return 'never';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '–';
  const sec = (nowMs - at) / 1000;
  return sec < 1 ? 'just now' : `${formatDuration(sec)} ago`;
}

/** Round-trip time: "0.42 ms", "12.3 ms", "230 ms". */
export function formatRtt(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** The path column: "direct", "UDP relay", "TCP relay · lab (relay-1)", "no path". */
export function pathLabel(peer: Pick<PagePeer, 'path' | 'relay'>): string {
  switch (peer.path) {
    case 'direct':
      return 'direct';
    case 'udp-relay':
      return 'UDP relay';
    case 'tcp-relay': {
      if (peer.relay === null) return 'TCP relay';
      const server = peer.relay.server === null ? '' : ` (${peer.relay.server})`;
      return `TCP relay · ${peer.relay.region}${server}`;
    }
    default:
      return 'no path';
  }
}

/** An endpoint's address family, shown beside it: the issue asks for "IPv4/IPv6" of the endpoint in use. */
export function endpointFamily(endpoint: string | null): 'IPv4' | 'IPv6' | null {
  if (endpoint === null) return null;
  return endpoint.startsWith('[') || endpoint.split(':').length > 2 ? 'IPv6' : 'IPv4';
}

/**
 * Seconds left until an agent-side instant, in the agent's clock: `offsetMs` is the agent's clock minus
 * the browser's (from the model's generatedAt), so a browser clock that is off does not shorten or
 * lengthen the confirm-or-revert countdown. Never negative.
 */
export function secondsUntil(iso: string, browserNowMs: number, offsetMs: number): number {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return 0;
  return Math.max(0, Math.ceil((at - (browserNowMs + offsetMs)) / 1000));
}

/** The agent's clock minus the browser's, from a model received at `receivedAtMs` (browser clock). */
export function clockOffsetMs(generatedAtIso: string, receivedAtMs: number): number {
  const at = Date.parse(generatedAtIso);
  return Number.isNaN(at) ? 0 : at - receivedAtMs;
}

/** A wall-clock instant for a table cell, in the browser's locale-free 24 h form: "2026-12-07 08:46:54". */
export function formatInstant(iso: string | null): string {
  if (iso === null) return '–';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '–';
  return at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** A boolean netcheck answer: null means the check could not tell. */
export function formatTristate(value: boolean | null, yes = 'yes', no = 'no'): string {
  return value === null ? 'unknown' : value ? yes : no;
}

/**
 * Whole seconds since the model was generated, on the agent's clock. The agent pushes a model only when
 * something other than its counters changed (time on path, lifetimes and the epoch age every second),
 * so the page ages those itself between models.
 */
export function elapsedSec(generatedAtIso: string, agentNowMs: number): number {
  const at = Date.parse(generatedAtIso);
  return Number.isNaN(at) ? 0 : Math.max(0, Math.floor((agentNowMs - at) / 1000));
}

/** A counter that grows with time (time on path, epoch), aged by `elapsed`. */
export function agedUp(value: number | null, elapsed: number): number | null {
  return value === null ? null : value + elapsed;
}

/** A lifetime that runs down, aged by `elapsed`, never below 0. */
export function agedDown(value: number, elapsed: number): number {
  return Math.max(0, value - elapsed);
}
