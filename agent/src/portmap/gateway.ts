/**
 * Finding the upstream gateway: the default route's next hop. Linux exposes it in /proc/net/route
 * (no subprocess needed); FreeBSD (OPNsense, pfSense) answers `route -n get default`.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { ConegateError } from '../errors.ts';

/** The default IPv4 gateway in /proc/net/route text (hex, little-endian), or undefined. */
export function parseProcNetRoute(text: string): { gateway: string; iface: string } | undefined {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flags, , , , mask] = f;
    // RTF_UP (1) and RTF_GATEWAY (2), destination and mask 0: the default route.
    if (dest !== '00000000' || mask !== '00000000' || (parseInt(flags!, 16) & 3) !== 3) continue;
    if (!/^[0-9A-Fa-f]{8}$/.test(gw!)) continue;
    const n = parseInt(gw!, 16);
    return { gateway: [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.'), iface: iface! };
  }
  return undefined;
}

/** The gateway line of FreeBSD's `route -n get default`, or undefined. */
export function parseRouteGet(text: string): string | undefined {
  const m = /^\s*gateway:\s*(\d{1,3}(?:\.\d{1,3}){3})\s*$/m.exec(text);
  return m?.[1];
}

/** The default gateway of this host; throws CG_NETWORK when there is none. */
export async function defaultGateway(): Promise<string> {
  if (process.platform === 'linux') {
    const parsed = parseProcNetRoute(await readFile('/proc/net/route', 'utf8').catch(() => ''));
    if (parsed) return parsed.gateway;
  } else {
    const out = await new Promise<string>((resolve) => execFile('route', ['-n', 'get', 'default'], { timeout: 3000 }, (_err, stdout) => resolve(String(stdout ?? ''))));
    const gw = parseRouteGet(out);
    if (gw) return gw;
  }
  throw new ConegateError('CG_NETWORK', 'no default IPv4 gateway found; give one with --gateway or portmap.gateway');
}

/** Our source address towards host (a connected UDP socket sends nothing): the LAN-facing address. */
export function localAddressTowards(host: string, port = 5351): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    sock.on('error', (err) => {
      sock.close();
      reject(new ConegateError('CG_NETWORK', `no route to ${host}: ${err.message}`, { cause: err }));
    });
    sock.connect(port, host, () => {
      const addr = sock.address().address;
      sock.close();
      resolve(addr);
    });
  });
}
