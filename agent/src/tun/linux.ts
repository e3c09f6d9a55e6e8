/**
 * TUN on Linux: open /dev/net/tun, ioctl(TUNSETIFF) with IFF_TUN | IFF_NO_PI (plain IP packets, no
 * 4-byte packet-information header). The interface appears in the caller's network namespace.
 * Addresses, MTU and link state are set with `ip` (ifconfig.ts); this file only owns the descriptor.
 */
import { ConegateError } from '../errors.ts';
import { FdTun, openError } from './fd-tun.ts';
import { libc } from './libc.ts';
import { DEFAULT_TUN_MTU, type TunOptions } from './tun.ts';

// <linux/if_tun.h>: _IOW('T', 202, int)
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
// <asm-generic/fcntl.h>, the values on x86-64 and arm64
const O_RDWR = 0x2;
const O_NONBLOCK = 0x800;
const O_CLOEXEC = 0x80000;
/** struct ifreq: char ifr_name[16], then a 24-byte union whose member used here is short ifr_flags. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

/** Creates (or attaches to) TUN interface `options.name`; needs CAP_NET_ADMIN. */
export function openLinuxTun(options: TunOptions): FdTun {
  if (process.platform !== 'linux') throw new ConegateError('CG_UNSUPPORTED', 'the Linux TUN needs Linux');
  const nameBytes = new TextEncoder().encode(options.name);
  if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || nameBytes.includes(0) || options.name.includes('/')) {
    throw new ConegateError('CG_CONFIG_INVALID', `interface name ${JSON.stringify(options.name)} must be 1-15 bytes`);
  }
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw openError('open /dev/net/tun', c.errno());
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(nameBytes, 0);
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true);
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const errno = c.errno();
    c.close(fd);
    throw openError(`TUNSETIFF ${options.name}`, errno);
  }
  // The kernel writes back the name it chose (it differs when the request was a pattern like `cg%d`).
  const end = ifr.indexOf(0);
  const name = new TextDecoder().decode(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
  return new FdTun({ name, mtu: options.mtu ?? DEFAULT_TUN_MTU, fd, libcName: 'libc.so.6' });
}
