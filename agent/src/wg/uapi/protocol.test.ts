import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeErrno, encodeGet, keyToHex, parseSet, parseUapiEndpoint, UapiError } from './protocol.ts';

const k = (n: number) => new Uint8Array(32).fill(n);
const hex = (n: number) => keyToHex(k(n));
const errnoOf = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UapiError) return err.errno;
    throw err;
  }
  return 0;
};

describe('uapi parseSet', () => {
  it('parses device keys and peer sections in order', () => {
    const s = parseSet([
      `private_key=${hex(1)}`,
      'listen_port=51820',
      'fwmark=4660',
      'replace_peers=true',
      `public_key=${hex(2)}`,
      'update_only=true',
      `preshared_key=${hex(3)}`,
      'endpoint=[2001:db8::5]:4500',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=100.64.0.2/32',
      'allowed_ip=2001:db8:1::/48',
      'protocol_version=1',
      `public_key=${hex(4)}`,
      'remove=true',
    ]);
    assert.deepEqual(s.privateKey, k(1));
    assert.equal(s.listenPort, 51820);
    assert.equal(s.fwmark, 4660);
    assert.equal(s.replacePeers, true);
    assert.equal(s.peers.length, 2);
    const [p, q] = s.peers;
    assert.deepEqual(p?.publicKey, k(2));
    assert.equal(p?.updateOnly, true);
    assert.deepEqual(p?.presharedKey, k(3));
    assert.deepEqual(p?.endpoint, { address: '2001:db8::5', port: 4500 });
    assert.equal(p?.persistentKeepaliveSec, 25);
    assert.equal(p?.replaceAllowedIps, true);
    assert.deepEqual(p?.allowedIps, ['100.64.0.2/32', '2001:db8:1::/48']);
    assert.equal(q?.remove, true);
  });

  it('refuses bad input with EINVAL or EPROTO, naming the key', () => {
    const cases: [string[], number][] = [
      [['private_key=zz'], 22],
      [[`private_key=${hex(1)}00`], 22],
      [['listen_port=65536'], 22],
      [['listen_port=-1'], 22],
      [['fwmark=4294967296'], 22],
      [['replace_peers=yes'], 22],
      [['frobnicate=1'], 22],
      [['endpoint=192.0.2.1:1'], 22], // peer key before any public_key
      [[`public_key=${hex(2)}`, 'endpoint=192.0.2.1'], 22],
      [[`public_key=${hex(2)}`, 'endpoint=192.0.2.1:0'], 22],
      [[`public_key=${hex(2)}`, 'endpoint=[2001:db8::1]'], 22],
      [[`public_key=${hex(2)}`, 'allowed_ip=100.64.0.300/32'], 22],
      [[`public_key=${hex(2)}`, 'allowed_ip=100.64.0.1'], 22],
      [[`public_key=${hex(2)}`, 'protocol_version=2'], 22],
      [[`public_key=${hex(2)}`, 'persistent_keepalive_interval=70000'], 22],
      [['no equals sign'], 71],
      [['=value'], 71],
    ];
    for (const [lines, errno] of cases) assert.equal(errnoOf(() => parseSet(lines)), errno, lines.join(' | '));
  });

  it('never throws anything but UapiError on arbitrary lines', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 80 }), { maxLength: 20 }), (lines) => {
        try {
          parseSet(lines);
        } catch (err) {
          if (!(err instanceof UapiError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('parses endpoints of both families', () => {
    assert.deepEqual(parseUapiEndpoint('192.0.2.9:51820'), { address: '192.0.2.9', port: 51820 });
    assert.deepEqual(parseUapiEndpoint('[::1]:1'), { address: '::1', port: 1 });
  });
});

describe('uapi encodeGet', () => {
  it('writes the fields wg expects, in wireguard-go order, closed by errno=0', () => {
    const text = encodeGet({
      privateKey: k(1),
      listenPort: 51820,
      fwmark: 0,
      peers: [
        {
          publicKey: k(2),
          endpoint: { address: '192.0.2.7', port: 4500 },
          lastHandshakeWallMs: 1_700_000_000_123,
          txBytes: 1000,
          rxBytes: 2000,
          persistentKeepaliveSec: 25,
          allowedIps: ['100.64.0.2/32'],
        },
      ],
    });
    assert.equal(
      text,
      [
        `private_key=${hex(1)}`,
        'listen_port=51820',
        `public_key=${hex(2)}`,
        `preshared_key=${'0'.repeat(64)}`,
        'protocol_version=1',
        'endpoint=192.0.2.7:4500',
        'last_handshake_time_sec=1700000000',
        'last_handshake_time_nsec=123000000',
        'tx_bytes=1000',
        'rx_bytes=2000',
        'persistent_keepalive_interval=25',
        'allowed_ip=100.64.0.2/32',
        'errno=0',
        '',
        '',
      ].join('\n'),
    );
  });

  it('omits an absent private key and a zero fwmark', () => {
    assert.equal(encodeGet({ listenPort: 0, fwmark: 0, peers: [] }), 'listen_port=0\nerrno=0\n\n');
    assert.equal(encodeErrno(22), 'errno=22\n\n');
  });
});
