import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isConegateError } from '../../errors.ts';
import { keyToBase64 } from '../keys.ts';
import { parseWgUpConfig } from './conf.ts';

const K1 = keyToBase64(new Uint8Array(32).fill(1));
const K2 = keyToBase64(new Uint8Array(32).fill(2));
const K3 = keyToBase64(new Uint8Array(32).fill(3));

const invalid = (text: string, re: RegExp) =>
  assert.throws(() => parseWgUpConfig(text, 'f.conf'), (e) => isConegateError(e) && e.code === 'CG_CONFIG_INVALID' && re.test(e.message) && !e.message.includes(K1));

describe('wg up config', () => {
  it('parses the wg-quick INI subset', () => {
    const c = parseWgUpConfig(
      `# comment
[Interface]
PrivateKey = ${K1}
ListenPort = 51820
Address = 100.64.0.1/24, 2001:db8::1/64
MTU = 1380

[Peer]
PublicKey = ${K2}
PresharedKey = ${K3}
Endpoint = [2001:db8::2]:51821
AllowedIPs = 100.64.0.2/32
AllowedIPs = 2001:db8::2/128  # repeated key adds
PersistentKeepalive = 25
[peer]
publickey = ${K3}
endpoint = gw.example:4500
`,
    );
    assert.deepEqual(c.privateKey, new Uint8Array(32).fill(1));
    assert.equal(c.listenPort, 51820);
    assert.deepEqual(c.addresses, ['100.64.0.1/24', '2001:db8::1/64']);
    assert.equal(c.mtu, 1380);
    assert.equal(c.peers.length, 2);
    assert.deepEqual(c.peers[0]?.endpoint, { host: '2001:db8::2', port: 51821 });
    assert.deepEqual(c.peers[0]?.allowedIps, ['100.64.0.2/32', '2001:db8::2/128']);
    assert.equal(c.peers[0]?.persistentKeepaliveSec, 25);
    assert.deepEqual(c.peers[1]?.endpoint, { host: 'gw.example', port: 4500 });
  });

  it('parses the JSON form', () => {
    const c = parseWgUpConfig(JSON.stringify({ interface: { privateKey: K1, listenPort: 0, address: '100.64.0.1/24' }, peers: [{ publicKey: K2, allowedIps: ['100.64.0.2/32'], persistentKeepalive: 0 }] }));
    assert.equal(c.listenPort, 0);
    assert.deepEqual(c.addresses, ['100.64.0.1/24']);
    assert.equal(c.peers[0]?.persistentKeepaliveSec, 0);
  });

  it('refuses bad files with the line, never echoing a key', () => {
    invalid('[Interface]\nListenPort = 1\n', /PrivateKey is required/);
    invalid(`[Interface]\nPrivateKey = ${K1}x\n`, /line 2: PrivateKey is not a base64/);
    invalid(`[Interface]\nPrivateKey = ${K1}\nDNS = 192.0.2.53\n`, /line 3: dns is a wg-quick feature/);
    invalid(`[Interface]\nPrivateKey = ${K1}\nColour = red\n`, /unknown key "colour"/);
    invalid(`[Interface]\nPrivateKey = ${K1}\n[Peer]\nEndpoint = 192.0.2.1:1\n`, /PublicKey is required/);
    invalid(`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = 192.0.2.1\n`, /Endpoint/);
    invalid(`[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nAllowedIPs = 100.64.0.300/32\n`, /not an address/);
    invalid(`[Interface]\nPrivateKey = ${K1}\nListenPort = 70000\n`, /0\.\.65535/);
    invalid(`PrivateKey = ${K1}\n`, /outside/);
    invalid(`[Interface]\nPrivateKey = ${K1}\n[Interface]\nPrivateKey = ${K1}\n`, /exactly one/);
    invalid('{"interface": 3}', /must be an object/);
    invalid('{ nope', /not valid JSON/);
  });
});
