/**
 * When the server must tell the LAN that mappings were lost or the address changed, as data: the
 * edge walks the schedule and encodes each packet at send time, so the epoch in it is current.
 * RFC 6886 3.2.1: up to 10 multicasts of the public-address response to 224.0.0.1:5350, the first
 * interval 250 ms, each next one doubled. RFC 6887 14.1.3: PCP ANNOUNCE to 224.0.0.1:5350 and
 * [ff02::1]:5350 with the same spacing (the RFC asks for "a few" with exponential backoff).
 */
import { PMP_ANNOUNCE_GROUP, PMP_CLIENT_PORT } from '../pmp/codec.ts';
import { PCP_CLIENT_PORT } from '../pcp/codec.ts';

export interface Announcement {
  atMs: number;
  protocol: 'pmp' | 'pcp';
  group: string;
  port: number;
}

export const ANNOUNCE_COUNT = 10;
export const ANNOUNCE_FIRST_INTERVAL_MS = 250;

/** Send times relative to 0: 0, 250, 750, 1750, ... (10 entries). */
export function announceOffsetsMs(count = ANNOUNCE_COUNT, firstIntervalMs = ANNOUNCE_FIRST_INTERVAL_MS): number[] {
  const out: number[] = [];
  let at = 0;
  let interval = firstIntervalMs;
  for (let i = 0; i < count; i++) {
    out.push(at);
    at += interval;
    interval *= 2;
  }
  return out;
}

/** The full schedule starting at startMs; ipv6 adds the PCP ANNOUNCE to ff02::1. */
export function announcementSchedule(startMs: number, options: { ipv6?: boolean } = {}): Announcement[] {
  const out: Announcement[] = [];
  for (const off of announceOffsetsMs()) {
    out.push({ atMs: startMs + off, protocol: 'pmp', group: PMP_ANNOUNCE_GROUP, port: PMP_CLIENT_PORT });
    out.push({ atMs: startMs + off, protocol: 'pcp', group: '224.0.0.1', port: PCP_CLIENT_PORT });
    if (options.ipv6) out.push({ atMs: startMs + off, protocol: 'pcp', group: 'ff02::1', port: PCP_CLIENT_PORT });
  }
  return out;
}
