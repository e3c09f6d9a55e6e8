/**
 * Epoch validation: how a client learns that the gateway lost its mappings (reboot, table flush)
 * without waiting for them to expire. Every NAT-PMP and PCP reply carries the server's epoch
 * (seconds since its state began); the client compares it with what its own clock predicts.
 */

export interface EpochSample {
  /** The server's epoch in the reply, seconds. */
  epochSec: number;
  /** Our monotonic time when that reply arrived. */
  atMs: number;
}

export type EpochVerdict = { ok: true } | { ok: false; reason: 'went-back' | 'too-slow' | 'too-fast' };

/**
 * RFC 6886 section 3.6 (NAT-PMP): expected = last SSSoE + 7/8 of our elapsed time; a reply more than
 * 2 s below that means the gateway lost state. 7/8 tolerates a gateway clock running 12.5% slow.
 */
export function checkNatpmpEpoch(prev: EpochSample | undefined, epochSec: number, nowMs: number): EpochVerdict {
  if (!prev) return { ok: true };
  const elapsedSec = Math.max(0, nowMs - prev.atMs) / 1000;
  const expected = prev.epochSec + (elapsedSec * 7) / 8;
  return epochSec < expected - 2 ? { ok: false, reason: epochSec < prev.epochSec ? 'went-back' : 'too-slow' } : { ok: true };
}

/**
 * RFC 6887 section 8.5 (PCP): invalid if the epoch went back by more than 1 s (less is reordering),
 * or if the server's and our elapsed times disagree by more than 2 s plus 1/16 of either.
 */
export function checkPcpEpoch(prev: EpochSample | undefined, epochSec: number, nowMs: number): EpochVerdict {
  if (!prev) return { ok: true };
  if (epochSec < prev.epochSec - 1) return { ok: false, reason: 'went-back' };
  const clientDelta = Math.max(0, nowMs - prev.atMs) / 1000;
  const serverDelta = epochSec - prev.epochSec;
  if (clientDelta + 2 < serverDelta - serverDelta / 16) return { ok: false, reason: 'too-fast' };
  if (serverDelta + 2 < clientDelta - clientDelta / 16) return { ok: false, reason: 'too-slow' };
  return { ok: true };
}

export function checkEpoch(via: 'natpmp' | 'pcp', prev: EpochSample | undefined, epochSec: number, nowMs: number): EpochVerdict {
  return via === 'pcp' ? checkPcpEpoch(prev, epochSec, nowMs) : checkNatpmpEpoch(prev, epochSec, nowMs);
}
