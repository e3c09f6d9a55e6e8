/**
 * Readiness for the TUN read path without a thread of our own (the default read path since issue 16):
 * poll(2) on the fd runs as a koffi async call on libuv's thread pool, and its callback wakes the main
 * thread, which reads until EAGAIN (fd-tun.ts) and arms the next poll. Same shape as the poll worker
 * (one wake-up per burst, reads straight into the main thread's buffers) but with no V8 isolate: a
 * worker thread costs ~10-12 MB resident, a pool thread that sits in poll() a few pages of stack.
 *
 * The poll also watches a pipe of ours, so close() and process exit wake it at once: libuv joins its
 * pool threads when the process exits (process.exit() hung for as long as a poll(-1) was in flight).
 * The poll timeout is still bounded (POLL_TIMEOUT_MS) so that even a missed wake costs one second.
 * While armed, one of the pool's threads (4 by default) is busy: DNS lookups and fs calls share the rest.
 */
import { ConegateError } from '../errors.ts';
import { libc, type Libc } from './libc.ts';

const POLLIN = 0x1;
/** struct pollfd: int fd; short events; short revents (8 bytes, both OSes). */
const POLLFD_BYTES = 8;
/** Upper bound of one wait: an idle agent wakes its main thread once a second for this, nothing more. */
const POLL_TIMEOUT_MS = 1000;

/** Open readiness waiters, woken when the process exits so libuv's pool can be joined. */
const open = new Set<PoolReadiness>();
let exitHooked = false;

export class PoolReadiness {
  private readonly pfds = new Uint8Array(2 * POLLFD_BYTES);
  private readonly wake = new Int32Array(2);
  private inFlight: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /** `onReadable` runs on the calling thread once per armed wait that saw the fd readable. `timeoutMs` -1: no bound (tests). */
  constructor(fd: number, private readonly onReadable: () => void, private readonly timeoutMs = POLL_TIMEOUT_MS, private readonly c: Libc = libc()) {
    if (c.pipe(this.wake) < 0) throw new ConegateError('CG_NETWORK', `cannot create the TUN reader's wake pipe (errno ${c.errno()})`);
    const v = new DataView(this.pfds.buffer);
    v.setInt32(0, fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(POLLFD_BYTES, this.wake[0] as number, true);
    v.setInt16(POLLFD_BYTES + 4, POLLIN, true);
    open.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => {
        for (const r of open) r.interrupt();
      });
    }
  }

  /** Starts one wait unless one is in flight already or the waiter is closed. */
  arm(): void {
    if (this.closing || this.inFlight) return;
    this.inFlight = new Promise<void>((resolve) => {
      this.c.pollAsync(this.pfds, 2, this.timeoutMs, (err, ready) => {
        this.inFlight = undefined;
        resolve();
        if (this.closing) return;
        // A timeout (0) or an interrupted poll (-1, EINTR) just waits again. Any revents on the TUN fd
        // (POLLIN, or POLLERR/POLLHUP when the interface went away) goes to the reader, whose read() tells.
        const revents = new DataView(this.pfds.buffer).getInt16(6, true);
        if (err || ready <= 0 || revents === 0) this.arm();
        else this.onReadable();
      });
    });
  }

  /** Wakes a wait in flight, waits for its callback, closes the pipe. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.interrupt();
      await this.inFlight;
      open.delete(this);
      this.c.close(this.wake[0] as number);
      this.c.close(this.wake[1] as number);
    })();
    return this.closing;
  }

  private interrupt(): void {
    if (this.inFlight) this.c.write(this.wake[1] as number, Uint8Array.of(1), 1);
  }
}
