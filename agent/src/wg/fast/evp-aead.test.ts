import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createEvpAead, evpAvailable } from './evp-aead.ts';

function nodeSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

describe('EVP ChaCha20-Poly1305 (koffi on Node\'s OpenSSL)', () => {
  it('is available on this platform (Linux x64/arm64 with koffi)', () => {
    assert.equal(evpAvailable(), true);
  });

  it('seals exactly as node:crypto, padding included, and opens what it sealed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.uint8Array({ maxLength: 1500 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 20 }), (key, nonce, plain, pad, off) => {
        const s = createEvpAead(key, 'seal')!;
        const o = createEvpAead(key, 'open')!;
        try {
          const out = new Uint8Array(off + plain.length + pad + 16);
          s.seal(nonce, plain, pad, out, off);
          const padded = new Uint8Array(plain.length + pad);
          padded.set(plain);
          assert.ok(nodeSeal(key, nonce, padded).equals(out.subarray(off)));
          const back = new Uint8Array(plain.length + pad);
          assert.equal(o.open(nonce, out.subarray(off), back), true);
          assert.deepEqual(back, padded);
        } finally {
          s.dispose();
          o.dispose();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reuses one context across many nonces and rejects any flipped bit', () => {
    const key = randomBytes(32);
    const s = createEvpAead(key, 'seal')!;
    const o = createEvpAead(key, 'open')!;
    const plain = randomBytes(200);
    for (let i = 0; i < 50; i++) {
      const nonce = new Uint8Array(12);
      nonce[4] = i;
      const out = new Uint8Array(216);
      s.seal(nonce, plain, 0, out, 0);
      assert.ok(nodeSeal(key, nonce, plain).equals(out));
      const bit = (i * 37) % (216 * 8);
      out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
      assert.equal(o.open(nonce, out, new Uint8Array(200)), false, `bit ${bit} accepted`);
    }
    assert.equal(o.open(new Uint8Array(12), new Uint8Array(10), new Uint8Array(0)), false, 'shorter than a tag');
    s.dispose();
    s.dispose();
    o.dispose();
  });

  // TAP named explicitly: Node 23+ defaults to the spec reporter even when stdout is not a terminal.
  it('the node:crypto fallback of Session passes the session and device tests too', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'agent/src/wg/session.test.ts', 'agent/src/wg/device.test.ts'], {
      env: { ...process.env, CONEGATE_WG_AEAD: 'node', NODE_TEST_CONTEXT: undefined },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /# fail 0/);
  });
});
