/**
 * IP forwarding on the router, per family: a subnet router forwards mesh <-> LAN. The edge reads and
 * sets the kernel switch (Linux: /proc/sys; FreeBSD: sysctl); the memory twin is for unit tests.
 * The caller restores only what it turned on (a router that forwarded before keeps forwarding).
 * Linux note: with net.ipv6.conf.all.forwarding=1 an interface ignores router advertisements unless
 * its accept_ra is 2; a router takes its WAN IPv6 from DHCPv6-PD/RA client settings made for that.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { ConegateError } from '../errors.ts';
import { spawnRunner, type CommandRunner } from './run.ts';

export type Family = 4 | 6;

export interface ForwardingControl {
  get(family: Family): Promise<boolean>;
  set(family: Family, on: boolean): Promise<void>;
}

const LINUX_KEYS: Record<Family, string> = { 4: 'net/ipv4/ip_forward', 6: 'net/ipv6/conf/all/forwarding' };
const FREEBSD_KEYS: Record<Family, string> = { 4: 'net.inet.ip.forwarding', 6: 'net.inet6.ip6.forwarding' };

export function linuxForwarding(procSys = '/proc/sys'): ForwardingControl {
  const path = (f: Family) => `${procSys}/${LINUX_KEYS[f]}`;
  return {
    async get(f) {
      return (await readFile(path(f), 'utf8')).trim() !== '0';
    },
    async set(f, on) {
      try {
        await writeFile(path(f), on ? '1\n' : '0\n');
      } catch (cause) {
        throw new ConegateError('CG_NOT_PERMITTED', `cannot turn IPv${f} forwarding ${on ? 'on' : 'off'} (${path(f)}): run as root`, { cause });
      }
    },
  };
}

export function freebsdForwarding(run: CommandRunner = spawnRunner()): ForwardingControl {
  return {
    async get(f) {
      const r = await run(['sysctl', '-n', FREEBSD_KEYS[f]]);
      if (r.code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `sysctl ${FREEBSD_KEYS[f]}: ${r.stderr.trim()}`);
      return r.stdout.trim() !== '0';
    },
    async set(f, on) {
      const r = await run(['sysctl', `${FREEBSD_KEYS[f]}=${on ? 1 : 0}`]);
      if (r.code !== 0) throw new ConegateError('CG_NOT_PERMITTED', `sysctl ${FREEBSD_KEYS[f]}=${on ? 1 : 0}: ${r.stderr.trim()}`);
    },
  };
}

export class MemoryForwarding implements ForwardingControl {
  readonly state: Record<Family, boolean>;
  constructor(initial: Partial<Record<Family, boolean>> = {}) {
    this.state = { 4: initial[4] ?? false, 6: initial[6] ?? false };
  }
  async get(f: Family): Promise<boolean> {
    return this.state[f];
  }
  async set(f: Family, on: boolean): Promise<void> {
    this.state[f] = on;
  }
}
