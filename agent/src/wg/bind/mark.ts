/**
 * SO_MARK on the bind's UDP sockets: the UAPI `fwmark`, which policy routing uses to keep the tunnel's
 * own packets out of the tunnel (wg-quick's `ip rule not fwmark ...`). node:dgram has no socket option
 * API, so setsockopt goes through koffi. Linux only: FreeBSD's counterpart (SO_USER_COOKIE) matches
 * ipfw, not PF, so a mark there would be stored and never act; it is refused instead.
 */
import { createRequire } from 'node:module';
import { ConegateError } from '../../errors.ts';

const SOL_SOCKET = 1;
const SO_MARK = 36; // asm-generic/socket.h, the same on x86-64 and arm64

interface SockOpt {
  set(fd: number, value: number): number;
  get(fd: number): number | undefined;
  errno(): number;
}

let cached: SockOpt | undefined;

function sockopt(): SockOpt {
  if (cached) return cached;
  if (process.platform !== 'linux') throw new ConegateError('CG_UNSUPPORTED', `fwmark is Linux-only (SO_MARK); ${process.platform} has no equivalent PF honours`);
  let koffi: typeof import('koffi');
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  } catch (cause) {
    throw new ConegateError('CG_UNSUPPORTED', 'fwmark needs koffi (FFI), which is not available here', { cause });
  }
  const lib = koffi.load('libc.so.6');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const int *value, unsigned int len)');
  const getsockopt = lib.func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ unsigned int *len)');
  cached = {
    set: (fd, value) => setsockopt(fd, SOL_SOCKET, SO_MARK, Int32Array.of(value | 0), 4) as number,
    get: (fd) => {
      const v = new Int32Array(1);
      const len = Uint32Array.of(4);
      return (getsockopt(fd, SOL_SOCKET, SO_MARK, v, len) as number) === 0 ? v[0]! >>> 0 : undefined;
    },
    errno: () => koffi.errno(),
  };
  return cached;
}

/** Sets SO_MARK on a socket descriptor; CG_NOT_PERMITTED without CAP_NET_ADMIN, CG_UNSUPPORTED off Linux. */
export function setSocketMark(fd: number | undefined, mark: number): void {
  if (fd === undefined) throw new ConegateError('CG_UNSUPPORTED', 'the socket descriptor is not reachable: cannot set fwmark');
  const o = sockopt();
  if (o.set(fd, mark) !== 0) {
    const errno = o.errno();
    throw new ConegateError(errno === 1 ? 'CG_NOT_PERMITTED' : 'CG_NETWORK', `setsockopt SO_MARK ${mark}: errno ${errno}${errno === 1 ? ' (needs CAP_NET_ADMIN)' : ''}`);
  }
}

/** Reads SO_MARK back (tests, diagnostics). */
export function socketMark(fd: number): number | undefined {
  return sockopt().get(fd);
}
