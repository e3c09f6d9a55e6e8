/**
 * Gives V8's young generation back while the agent idles (issue 16: idle RSS < 80 MB with 100 peers).
 * Start-up allocates a lot that survives (config and protocol schemas compiled, the first map of every
 * peer applied), so V8 grows the two semi-spaces to their 8 MB maximum: 16 MB resident for 2 MB of
 * live young objects. V8 shrinks them only in a GC that sees a low allocation rate, and an idle process
 * never runs a GC at all: measured 80 MB after 40 s idle, 67 MB right after one scavenge.
 * So a scavenge runs every TRIM_EVERY_MS. Under load it costs a fraction of a millisecond and shrinks
 * nothing (V8 keeps the space while allocation is fast, so throughput keeps its large young generation).
 *
 * Node exposes no GC call; `--expose-gc` set at run time installs `gc` in contexts created afterwards,
 * so a fresh vm context hands us the function without putting it into the agent's own global scope.
 * Where that is refused, the component does nothing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CancelTimer, Clock } from '../clock/clock.ts';
import { idempotent, type Component } from './component.ts';

/** 15 s: the first trim lands soon after start-up settles; 4 scavenges a minute are noise. */
export const TRIM_EVERY_MS = 15_000;

type Gc = (options?: { type?: 'minor' | 'major' }) => void;

let cached: Gc | null | undefined;

/** V8's gc(), obtained once; null where the runtime does not allow it. */
export function exposedGc(): Gc | null {
  if (cached !== undefined) return cached;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as unknown;
    cached = typeof gc === 'function' ? (gc as Gc) : null;
  } catch {
    cached = null;
  }
  return cached;
}

export interface IdleTrimDeps {
  clock: Clock;
  /** Tests: counts calls instead of collecting. */
  gc?: Gc | null;
}

export function idleTrimComponent(deps: IdleTrimDeps): Component {
  let cancel: CancelTimer | undefined;
  let stopped = false;
  let trims = 0;
  const gc = deps.gc === undefined ? exposedGc() : deps.gc;
  const tick = () => {
    if (stopped) return;
    gc?.({ type: 'minor' });
    trims++;
    cancel = deps.clock.setTimer(TRIM_EVERY_MS, tick);
  };
  return idempotent(
    'trim',
    async () => {
      if (gc) cancel = deps.clock.setTimer(TRIM_EVERY_MS, tick);
    },
    async () => {
      stopped = true;
      cancel?.();
    },
    () => {
      const m = process.memoryUsage();
      const mb = (b: number) => Math.round(b / 104857.6) / 10;
      return { rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), trims, gc: gc !== null };
    },
  );
}
