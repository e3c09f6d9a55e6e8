/**
 * Readiness mode for the TUN read path: the worker only waits for the fd to become readable (poll) and
 * wakes the main thread, which then reads packets itself, straight into its own buffers, until EAGAIN.
 * One message per burst instead of one per batch of copied packets, no transfer and no copy between
 * threads; the worker sleeps (Atomics.wait) while the main thread is reading.
 *
 * Handshake over `state` (Int32Array on a SharedArrayBuffer):
 *   state[0] = ARMED (1): the worker polls and, when readable, sets it to READING (0) and posts a wake.
 *   state[0] = READING (0): the main thread reads until EAGAIN, then sets ARMED and notifies.
 *   state[1] = 1: stop. poll and wait both time out every POLL_MS so the flag is seen promptly.
 * poll is level-triggered: a packet arriving between the main thread's EAGAIN and the next poll makes
 * that poll return at once, so no wake-up is lost.
 */

export interface PollWorkerData {
  koffiPath: string;
  libcName: string;
  fd: number;
  pollMs: number;
  state: Int32Array;
}

export const STATE_READING = 0;
export const STATE_ARMED = 1;

export const POLL_WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const lib = koffi.load(workerData.libcName);
const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
const { fd, pollMs, state } = workerData;
const pfd = new Uint8Array(8);
const view = new DataView(pfd.buffer);
view.setInt32(0, fd, true);
view.setInt16(4, 1, true); // POLLIN
while (Atomics.load(state, 1) === 0) {
  if (Atomics.load(state, 0) !== 1) {
    Atomics.wait(state, 0, 0, pollMs);
    continue;
  }
  const r = poll(pfd, 1, pollMs);
  if (r > 0 && Atomics.compareExchange(state, 0, 1, 0) === 1) parentPort.postMessage(0);
}
`;
