/**
 * The fake agent's starting PageModel: three peers (one on the TCP relay with its reason, one direct over
 * IPv6, one whose name is markup), a NAT-PMP mapping, a netcheck, an IPS finding with its fix, NAT rules
 * in force. Times are relative to `nowMs` so the page reads the same whenever it is opened.
 */
import type { PageModel, PagePeer } from '../../agent/src/web/model.ts';

/** A name that would run script if any view rendered it as markup. */
export const XSS_NAME = '<img src=x onerror=alert(1)>';

/** A plausible RTT trace: `n` samples every 2 s ending at `nowMs`, around `baseMs`, with a gap of lost probes. */
export function rttTrace(nowMs: number, baseMs: number, n = 150): [number, number | null][] {
  const end = Math.floor(nowMs / 1000);
  return Array.from({ length: n }, (_, i) => {
    const t = end - (n - 1 - i) * 2;
    const lost = i > n * 0.6 && i < n * 0.63;
    return [t, lost ? null : Math.round((baseMs + baseMs * 0.25 * Math.sin(i / 7) + ((i * 37) % 11) / 10) * 10) / 10];
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

export function samplePeers(nowMs: number): PagePeer[] {
  return [
    {
      id: 'n-branch',
      name: 'branch-office',
      addresses: ['100.100.0.2', 'fd7a:115c:a1e0::2'],
      online: true,
      path: 'tcp-relay',
      endpoint: null,
      relay: { region: 'lab', server: 'relay-1' },
      rttMs: 41.7,
      lastHandshake: iso(nowMs - 17_000),
      rxBytes: 18_734_112,
      txBytes: 4_112_908,
      forSec: 312,
      reason: { code: 'hard-nat-both', text: 'both sides map per destination; birthday attempt in 20 s' },
      events: [
        { at: iso(nowMs - 340_000), text: 'peer added by the coordinator' },
        { at: iso(nowMs - 312_000), text: 'path: TCP relay lab (relay-1)' },
        { at: iso(nowMs - 60_000), text: 'birthday attempt: 256 probes, no answer' },
      ],
      rttHistory: rttTrace(nowMs, 40),
    },
    {
      id: 'n-nas',
      name: 'nas-home',
      addresses: ['100.100.0.3'],
      online: true,
      path: 'direct',
      endpoint: '[2001:db8:10::5]:41641',
      relay: null,
      rttMs: 6.3,
      lastHandshake: iso(nowMs - 84_000),
      rxBytes: 901_222_331,
      txBytes: 1_208_004_118,
      forSec: 7420,
      reason: null,
      events: [{ at: iso(nowMs - 7_420_000), text: 'path: direct [2001:db8:10::5]:41641 (from TCP relay, 2.1 s)' }],
      rttHistory: rttTrace(nowMs, 6),
    },
    {
      id: 'n-odd',
      name: XSS_NAME,
      addresses: ['100.100.0.9'],
      online: false,
      path: 'udp-relay',
      endpoint: '203.0.113.40:41642',
      relay: null,
      rttMs: null,
      lastHandshake: null,
      rxBytes: 0,
      txBytes: 1184,
      forSec: 45,
      reason: { code: 'ips-drops-stun', text: '<b>IPS</b> drops STUN to this peer' },
      events: [],
      rttHistory: [],
    },
  ];
}

export function sampleModel(nowMs: number): PageModel {
  return {
    version: '0.1.0',
    generatedAt: iso(nowMs),
    self: { name: 'gw-main', addresses: ['100.100.0.1', 'fd7a:115c:a1e0::1'], interface: 'cg0', listenPort: 41641, coordinator: 'https://198.51.100.10:8443' },
    peers: samplePeers(nowMs),
    mappings: {
      epochSec: 86_412,
      items: [{ id: '192.168.1.20/udp/51820', client: '192.168.1.20', protocol: 'udp', internalPort: 51820, externalPort: 51820, lifetimeSec: 6840, via: 'nat-pmp' }],
    },
    netcheck: {
      at: iso(nowMs - 95_000),
      mapping: 'endpoint-independent',
      filtering: 'address-dependent',
      hairpin: false,
      ipv6: true,
      portMapping: { protocol: 'pcp', externalAddress: '203.0.113.2', epoch: 5120 },
      relayLatencyMs: { lab: 12.4, fra: 28.9 },
    },
    ips: [
      {
        id: 'suricata-2033078',
        severity: 'block',
        title: 'Suricata drops STUN between peers (ET INFO STUN Binding Request, SID 2033078)',
        fix: 'Set rule 2033078 to "alert" (or disable it), then Apply.',
        where: 'Services > Intrusion Detection > Administration > Rules: search 2033078',
      },
    ],
    nat: {
      enabled: true,
      backend: 'nft',
      rules: 'table inet conegate {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "eth8" udp sport 41641 masquerade persistent\n  }\n}\n',
      pending: null,
      appliedAt: iso(nowMs - 3_600_000),
    },
    settings: { pending: false, appliedAt: iso(nowMs - 3_600_000), restartNeeded: [] },
  };
}

/** The config the fake starts with (valid for agent/src/config's schema). */
export const SAMPLE_CONFIG = {
  log: { level: 'info' },
  nat: { enabled: true, scope: { ports: ['41641'] } },
  pmp: { enabled: true, lan: ['br0'], wan: 'eth8', allow: ['192.168.1.0/24'] },
  wg: { listenPort: 41641 },
};
