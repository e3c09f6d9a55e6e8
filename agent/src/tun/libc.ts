/**
 * The few libc calls Node has no API for (open a character device with flags, ioctl, read/write on a
 * raw fd), bound through koffi: prebuilt binaries for linux and freebsd on x64 and arm64, so appliances
 * need no compiler. Loaded lazily: importing this module on a machine without koffi's binary is harmless.
 */
import { createRequire } from 'node:module';
import { ConegateError } from '../errors.ts';

/** koffi's module path, for worker threads that load it themselves. */
export function koffiPath(): string {
  return createRequire(import.meta.url).resolve('koffi');
}

export interface Libc {
  open(path: string, flags: number): number;
  ioctl(fd: number, request: number, arg: Uint8Array): number;
  /** ioctl whose third argument is an int passed by pointer (FreeBSD TUNSIFHEAD). */
  ioctlInt(fd: number, request: number, arg: Int32Array): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  close(fd: number): number;
  /** pipe2(2) with O_CLOEXEC: fds[0] the read end, fds[1] the write end. */
  pipe(fds: Int32Array): number;
  /**
   * poll(2) run on libuv's thread pool (a koffi async call): no thread of our own and no JS isolate,
   * the callback runs on the calling thread. `fds` holds struct pollfd entries (8 bytes each); their
   * revents are copied back before the callback.
   */
  pollAsync(fds: Uint8Array, count: number, timeoutMs: number, done: (err: unknown, ready: number) => void): void;
  errno(): number;
}

/** <fcntl.h> O_CLOEXEC: Linux (x86-64, arm64) and FreeBSD differ. */
const O_CLOEXEC = process.platform === 'freebsd' ? 0x100000 : 0x80000;

let cached: Libc | undefined;

/** Binds libc once per thread. Throws CG_UNSUPPORTED where koffi or libc cannot be loaded. */
export function libc(): Libc {
  if (cached) return cached;
  let koffi: typeof import('koffi');
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (cause) {
    throw new ConegateError('CG_UNSUPPORTED', 'koffi (FFI) is not available on this platform: no TUN support', { cause });
  }
  const lib = koffi.load(process.platform === 'linux' ? 'libc.so.6' : 'libc.so.7');
  // ioctl is variadic in C; on the SysV x86-64 and AAPCS64 ABIs (Linux and FreeBSD) a pointer passed as the
  // third argument travels exactly as in a fixed-argument call, so a fixed prototype is safe here.
  const ioctlPtr = lib.func('int ioctl(int fd, unsigned long request, _Inout_ uint8_t *arg)');
  const ioctlInt = lib.func('int ioctl(int fd, unsigned long request, _Inout_ int *arg)');
  const open = lib.func('int open(const char *path, int flags)');
  // void * rather than const uint8_t *: koffi then passes the typed array's memory as is (measured
  // 0.45 against 0.59 us per call).
  const write = lib.func('long write(int fd, void *buf, unsigned long len)');
  const read = lib.func('long read(int fd, void *buf, unsigned long len)');
  const close = lib.func('int close(int fd)');
  const pipe2 = lib.func('int pipe2(_Out_ int *fds, int flags)');
  const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
  cached = {
    open: (path, flags) => open(path, flags) as number,
    ioctl: (fd, request, arg) => ioctlPtr(fd, request, arg) as number,
    ioctlInt: (fd, request, arg) => ioctlInt(fd, request, arg) as number,
    write: (fd, buf, len) => Number(write(fd, buf, len)),
    read: (fd, buf, len) => Number(read(fd, buf, len)),
    close: (fd) => close(fd) as number,
    pipe: (fds) => pipe2(fds, O_CLOEXEC) as number,
    pollAsync: (fds, count, timeoutMs, done) => poll.async(fds, count, timeoutMs, done),
    errno: () => koffi.errno(),
  };
  return cached;
}

/** errno values used here (identical on Linux and FreeBSD except EAGAIN). */
export const ERRNO = {
  EINTR: 4,
  EBADF: 9,
  EAGAIN: process.platform === 'freebsd' ? 35 : 11,
  EINVAL: 22,
  EPERM: 1,
  EACCES: 13,
  ENOENT: 2,
  EBUSY: 16,
} as const;
