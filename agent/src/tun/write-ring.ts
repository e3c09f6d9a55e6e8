/**
 * TUN writes on a thread of their own. Writing a packet into a TUN runs the kernel's receive path for it
 * (for TCP: the whole stack up to waking the reader) inside the write() call: measured at ~20% of the
 * receiving agent's main thread at full speed. A single-producer/single-consumer ring in shared memory
 * moves that work to a writer thread, so the main thread goes back to decrypting and both cores work.
 *
 * Layout: `slots` packets of up to `slotBytes` each in `data`; `lengths[i]` the length in slot i;
 * ctrl = [head (next slot the main thread fills), tail (next slot the writer writes), sleeping, stop].
 * head and tail only grow (mod 2^31 wrap is harmless: only their difference is used).
 * The producer wakes the writer only when it said it is going to sleep, and at most once per event-loop
 * turn (ringWakeSoon): a futex wake per packet cost ~7% of the receiving agent's main thread.
 */

export const CTRL_HEAD = 0;
export const CTRL_TAIL = 1;
export const CTRL_SLEEPING = 2;
export const CTRL_STOP = 3;

export interface WriteRing {
  data: Uint8Array;
  lengths: Int32Array;
  ctrl: Int32Array;
  slots: number;
  slotBytes: number;
}

export function createWriteRing(slots: number, slotBytes: number): WriteRing {
  return {
    data: new Uint8Array(new SharedArrayBuffer(slots * slotBytes)),
    lengths: new Int32Array(new SharedArrayBuffer(slots * 4)),
    ctrl: new Int32Array(new SharedArrayBuffer(16)),
    slots,
    slotBytes,
  };
}

/** Main thread: queues one packet (with an optional 4-byte header already in `header`); false if full. */
export function ringPush(r: WriteRing, packet: Uint8Array, header?: Uint8Array): boolean {
  const head = r.ctrl[CTRL_HEAD] as number;
  const tail = Atomics.load(r.ctrl, CTRL_TAIL);
  const hdr = header ? header.length : 0;
  if (head - tail >= r.slots || packet.length + hdr > r.slotBytes) return false;
  const slot = head % r.slots;
  const at = slot * r.slotBytes;
  if (header) r.data.set(header, at);
  r.data.set(packet, at + hdr);
  r.lengths[slot] = packet.length + hdr;
  Atomics.store(r.ctrl, CTRL_HEAD, head + 1);
  return true;
}

/**
 * Returns a function to call after each push: if the consumer sleeps, it is woken once, after the
 * current event-loop turn (so a burst of pushes costs one wake). A consumer that has not gone to sleep
 * yet sees the new head itself: it re-reads head after announcing sleep, and Atomics.wait only sleeps
 * while head still equals its tail.
 */
export function ringWakeSoon(ctrl: Int32Array, sleepingIndex: number, headIndex: number): () => void {
  let scheduled = false;
  const wake = () => {
    scheduled = false;
    Atomics.notify(ctrl, headIndex);
  };
  return () => {
    if (scheduled || Atomics.load(ctrl, sleepingIndex) !== 1) return;
    scheduled = true;
    setImmediate(wake);
  };
}

export interface WriterWorkerData {
  koffiPath: string;
  libcName: string;
  fd: number;
  ring: WriteRing;
  waitMs: number;
}

/**
 * Worker source for the consumer side of a ring with this file's ctrl layout (head, tail, sleeping,
 * stop), shared by the TUN writer and the UDP sender (wg/bind/send-ring.ts). `setup` runs once with
 * `lib` (libc via koffi), `workerData`, `ring` and `slots` in scope; `consume` is an expression over
 * `slot` that is false when that packet failed. Posts 'ready' once set up; failures are counted and
 * posted (as a number) when the ring is idle.
 */
export function ringConsumerSource(setup: string, consume: string): string {
  return String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const lib = koffi.load(workerData.libcName);
const { ring, waitMs } = workerData;
const { ctrl, slots } = ring;
${setup}
// The producer hands the ring out only from here on (ring-thread.ts): nothing waits in a ring nobody reads.
parentPort.postMessage('ready');
let failed = 0;
let reported = 0;
while (Atomics.load(ctrl, 3) === 0) {
  const tail = ctrl[1];
  const head = Atomics.load(ctrl, 0);
  if (head === tail) {
    if (failed !== reported) {
      parentPort.postMessage(failed - reported);
      reported = failed;
    }
    Atomics.store(ctrl, 2, 1);
    // Re-check after announcing sleep: a push between the two loads must not be missed.
    if (Atomics.load(ctrl, 0) === tail) Atomics.wait(ctrl, 0, tail, waitMs);
    Atomics.store(ctrl, 2, 0);
    continue;
  }
  const slot = tail % slots;
  if (!(${consume})) failed++;
  Atomics.store(ctrl, 1, tail + 1);
}
`;
}

/** The writer loop (worker source, evaluated like reader-worker.ts). Reports failed writes by count. */
export const WRITER_WORKER_SOURCE = ringConsumerSource(
  String.raw`
const write = lib.func('long write(int fd, void *buf, unsigned long len)');
const { fd } = workerData;
const { data, lengths, slotBytes } = ring;
const views = [];
for (let i = 0; i < slots; i++) views.push(new Uint8Array(data.buffer, i * slotBytes, slotBytes));
`,
  'Number(write(fd, views[slot], lengths[slot])) >= 0',
);
