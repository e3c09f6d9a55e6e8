/** Opens the platform's TUN device: the one place that chooses an implementation. */
import { createRequire } from 'node:module';
import { ConegateError } from '../errors.ts';
import type { FdTun } from './fd-tun.ts';
import { openFreebsdTun } from './freebsd.ts';
import { openLinuxTun } from './linux.ts';
import type { TunOptions } from './tun.ts';

export function openTun(options: TunOptions): FdTun {
  if (process.platform === 'linux') return openLinuxTun(options);
  if (process.platform === 'freebsd') return openFreebsdTun(options, freebsdDeviceName);
  throw new ConegateError('CG_UNSUPPORTED', `no TUN support on ${process.platform}`);
}

/** FreeBSD: the cloned device's name (`tun3`) via fdevname_r(3). */
function freebsdDeviceName(fd: number): string {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const fdevname = koffi.load('libc.so.7').func('const char *fdevname_r(int fd, _Out_ uint8_t *buf, int len)');
  const buf = new Uint8Array(64);
  fdevname(fd, buf, buf.length);
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}
