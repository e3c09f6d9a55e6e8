/**
 * TUN on FreeBSD (tun(4)), for OPNsense and pfSense. NOT TESTED HERE: the development machines are Linux;
 * this follows tun(4) and is kept small so the shared FdTun carries all the logic that is tested.
 * Opening /dev/tun clones the next free tunN; TUNSIFHEAD makes every packet carry a 4-byte address
 * family in network order (needed to tell IPv4 from IPv6 on write); the interface is renamed with
 * `ifconfig NAME name WANTED` by the caller if it wants a fixed name.
 */
import { ConegateError } from '../errors.ts';
import { FdTun, openError } from './fd-tun.ts';
import { libc } from './libc.ts';
import { DEFAULT_TUN_MTU, type TunOptions } from './tun.ts';

// <net/if_tun.h>: _IOW('t', 96, int)
const TUNSIFHEAD = 0x80047460;
// <sys/fcntl.h> on FreeBSD
const O_RDWR = 0x2;
const O_NONBLOCK = 0x4;
const O_CLOEXEC = 0x100000;
// <sys/socket.h> on FreeBSD
const AF_INET = 2;
const AF_INET6 = 28;

/** Opens a cloned tunN. The device name is found with fdevname_r (libc), e.g. `tun3`. */
export function openFreebsdTun(options: TunOptions, deviceName: (fd: number) => string): FdTun {
  if (process.platform !== 'freebsd') throw new ConegateError('CG_UNSUPPORTED', 'the FreeBSD TUN needs FreeBSD');
  const c = libc();
  const fd = c.open('/dev/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw openError('open /dev/tun', c.errno());
  if (c.ioctlInt(fd, TUNSIFHEAD, Int32Array.of(1)) < 0) {
    const errno = c.errno();
    c.close(fd);
    throw openError('TUNSIFHEAD', errno);
  }
  return new FdTun({
    name: deviceName(fd),
    mtu: options.mtu ?? DEFAULT_TUN_MTU,
    fd,
    libcName: 'libc.so.7',
    afHeader: { inet: AF_INET, inet6: AF_INET6 },
  });
}
