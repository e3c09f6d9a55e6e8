/**
 * The consumer thread of a shared ring (TUN writer, UDP sender), run on demand (demand.ts): producers
 * ask `ring` before each packet; while it is undefined (thread off, or still starting) they write on the
 * calling thread and `noteMain()` it, which may start the thread. The ring is handed out only once the
 * worker said it is ready, so a burst never piles into a ring nobody reads yet. In 'auto' mode a thread
 * that saw no packet for `idleStopMs` is stopped (its ring empty by then) and the producers fall back.
 * 'thread' runs it from the start and for good (the previous default), 'main' never.
 */
import { Worker } from 'node:worker_threads';
import { DEFAULT_DEMAND, DemandMeter, idleSince, type DemandPolicy } from './demand.ts';
import { ringWakeSoon } from './write-ring.ts';

export type ThreadMode = 'auto' | 'thread' | 'main';

/** ctrl layout shared by every ring here (write-ring.ts): head, tail, sleeping, stop. */
const HEAD = 0;
const SLEEPING = 2;
const STOP = 3;

export interface RingLike {
  ctrl: Int32Array;
}

export interface RingThreadSpec<R extends RingLike> {
  /** A fresh ring and its worker (a source built with ringConsumerSource, which posts 'ready'). */
  create(): { ring: R; worker: Worker };
  /** Packets the worker could not write (it reports counts now and then). */
  onFailed(count: number): void;
  /** The worker failed (an exception in its loop): counted by the owner; the thread is gone. */
  onError(): void;
}

/** `CONEGATE_*` environment value -> mode; anything else is the default. */
export function threadModeFrom(value: string | undefined, dflt: ThreadMode = 'auto'): ThreadMode {
  return value === 'main' || value === 'thread' || value === 'auto' ? value : dflt;
}

export class RingThread<R extends RingLike> {
  /** The ring to push into, or undefined: write on the calling thread. */
  ring: R | undefined;
  /** Call after pushes: wakes a sleeping consumer once per event-loop turn. */
  wake: () => void = () => undefined;
  private worker: Worker | undefined;
  /** The ring of the running worker, handed out as `ring` only once the worker is ready. */
  private workerRing: R | undefined;
  private exits = new Set<Promise<void>>();
  private idleTimer: NodeJS.Timeout | undefined;
  private lastHead: number | undefined;
  private readonly meter: DemandMeter;
  private closed = false;
  /** Threads started so far (tests, status). */
  starts = 0;

  constructor(private readonly mode: ThreadMode, private readonly spec: RingThreadSpec<R>, policy: DemandPolicy = DEFAULT_DEMAND) {
    this.meter = new DemandMeter(policy);
    if (mode === 'thread') this.start();
  }

  /** Whether a thread runs or is starting. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Counts packets written on the calling thread; in 'auto' mode a fast enough stream starts the thread. */
  noteMain(n = 1): void {
    if (this.mode !== 'auto' || this.worker || this.closed) return;
    if (this.meter.note(performance.now(), n)) this.start();
  }

  /** Starts the thread (if none runs). The ring is used from the worker's 'ready' on. */
  start(): void {
    if (this.worker || this.closed) return;
    const { ring, worker } = this.spec.create();
    this.starts++;
    this.worker = worker;
    this.workerRing = ring;
    const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.exits.add(exit);
    void exit.then(() => {
      this.exits.delete(exit);
      // A worker that ended on its own (an error) leaves the producers on the calling thread.
      if (this.worker === worker) this.detach();
    });
    worker.on('message', (m: number | 'ready') => {
      if (m !== 'ready') return this.spec.onFailed(m);
      if (this.worker !== worker) return;
      this.ring = ring;
      this.wake = ringWakeSoon(ring.ctrl, SLEEPING, HEAD);
      this.armIdle();
    });
    worker.on('error', () => this.spec.onError());
    // The thread never keeps the process alive by itself: close() is what ends it.
    worker.unref();
  }

  /** Stops the thread; packets still in its ring are dropped (callers drain first where it matters). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopThread();
    await Promise.all(this.exits);
  }

  private armIdle(): void {
    if (this.mode !== 'auto') return;
    this.lastHead = undefined;
    const check = () => {
      const ring = this.ring;
      if (!ring) return;
      const head = Atomics.load(ring.ctrl, HEAD);
      // Idle only when the consumer also caught up: a ring the worker has not emptied is not idle.
      if (idleSince(this.lastHead, head) && Atomics.load(ring.ctrl, 1) === head) return this.stopThread();
      this.lastHead = head;
      this.idleTimer = setTimeout(check, this.meter.policy.idleStopMs);
      this.idleTimer.unref();
    };
    check();
  }

  private stopThread(): void {
    const worker = this.worker;
    const ring = this.workerRing;
    this.detach();
    if (!worker || !ring) return;
    // ref'd until it exits: an otherwise idle process must not end before the thread has let go of the fd.
    worker.ref();
    // Always the stop flag, never terminate(): a worker still starting may be inside koffi's native
    // module init, and terminating it there is a fatal error of the whole process (napi_throw while
    // the isolate terminates; seen in the TUN compliance suite). It sees the flag once set up.
    Atomics.store(ring.ctrl, STOP, 1);
    Atomics.notify(ring.ctrl, HEAD);
  }

  private detach(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.worker = undefined;
    this.workerRing = undefined;
    this.ring = undefined;
    this.wake = () => undefined;
    this.meter.reset();
  }
}
