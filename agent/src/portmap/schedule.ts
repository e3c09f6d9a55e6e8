/**
 * Retransmission schedules as data: when each copy of a request goes out, and when the client gives
 * up. Computed before any packet is sent so tests compare arrays, not timings.
 */

export interface RetransmitSchedule {
  /** Send times, ms after the first send (the first is always 0). */
  sendAtMs: number[];
  /** When to stop waiting for a reply, ms after the first send. */
  giveUpAtMs: number;
}

/**
 * RFC 6886 section 3.1: first retransmission after 250 ms, the interval doubling each time, 9 sends
 * in all (the last waits 64 s, so a full run lasts 127.75 s). Fewer tries give a shorter schedule
 * with the same shape, which probes use.
 */
export function natpmpSchedule(tries = 9, initialMs = 250): RetransmitSchedule {
  const sendAtMs: number[] = [];
  let at = 0;
  let interval = initialMs;
  for (let i = 0; i < tries; i++) {
    sendAtMs.push(at);
    at += interval;
    interval *= 2;
  }
  return { sendAtMs, giveUpAtMs: at };
}

/** RFC 6887 section 8.1.1 constants: initial retransmission 3 s, capped at 1024 s. */
export const PCP_IRT_MS = 3000;
export const PCP_MRT_MS = 1024_000;

/**
 * RFC 6887 section 8.1.1: RT = (1 + RAND) * IRT, then RT = (1 + RAND) * 2 * RTprev, capped at
 * (1 + RAND) * MRT, with RAND uniform in [-0.1, +0.1]. The RFC allows MRC = 0 (retry for ever); a
 * router daemon must not, so `tries` bounds it (MRC) and maxDurationMs bounds the whole run (MRD).
 * random() returns [0, 1) and is injected so the schedule is reproducible in tests.
 */
export function pcpSchedule(random: () => number, tries = 4, opts: { irtMs?: number; mrtMs?: number; maxDurationMs?: number } = {}): RetransmitSchedule {
  const irt = opts.irtMs ?? PCP_IRT_MS;
  const mrt = opts.mrtMs ?? PCP_MRT_MS;
  const rand = (): number => random() * 0.2 - 0.1;
  const sendAtMs: number[] = [];
  let at = 0;
  let rt = 0;
  for (let i = 0; i < tries; i++) {
    sendAtMs.push(at);
    rt = i === 0 ? (1 + rand()) * irt : (1 + rand()) * 2 * rt;
    if (rt > mrt) rt = (1 + rand()) * mrt;
    rt = Math.round(rt);
    at += rt;
  }
  let giveUpAtMs = at;
  if (opts.maxDurationMs !== undefined && opts.maxDurationMs < giveUpAtMs) {
    giveUpAtMs = opts.maxDurationMs;
    while (sendAtMs.length > 1 && sendAtMs[sendAtMs.length - 1]! >= giveUpAtMs) sendAtMs.pop();
  }
  return { sendAtMs, giveUpAtMs };
}

/** A schedule cut at maxDurationMs (probes ask for an answer within a netcheck budget). */
export function truncateSchedule(s: RetransmitSchedule, maxDurationMs: number): RetransmitSchedule {
  if (s.giveUpAtMs <= maxDurationMs) return s;
  const sendAtMs = s.sendAtMs.filter((t, i) => i === 0 || t < maxDurationMs);
  return { sendAtMs, giveUpAtMs: maxDurationMs };
}
