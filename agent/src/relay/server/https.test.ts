import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connectVerified } from '../../node/tls-connect.ts';
import { startTestRelay } from './testing.ts';

function http(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.once('error', reject);
    req.end();
  });
}

test('HTTPS edge: latency probe 200, /relay without upgrade 426, other paths 404', async () => {
  const r = await startTestRelay();
  try {
    assert.equal((await http(r.port, 'HEAD', '/relay/latency')).status, 200);
    assert.equal((await http(r.port, 'GET', '/relay/latency')).status, 200);
    const plain = await http(r.port, 'GET', '/relay');
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.upgrade, 'conegate-relay');
    assert.equal((await http(r.port, 'GET', '/')).status, 404);
  } finally {
    await r.stop();
  }
});

test('HTTPS edge: an unknown upgrade token or a WebSocket upgrade without its key is refused with 400', async () => {
  const r = await startTestRelay();
  try {
    for (const upgrade of ['Upgrade: derp\r\n', 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n']) {
      const sock = await connectVerified('127.0.0.1', r.port, { fingerprint: r.fingerprint });
      sock.write(`GET /relay HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n${upgrade}\r\n`);
      let got = '';
      sock.setEncoding('utf8').on('data', (c: string) => (got += c));
      await new Promise((res) => sock.once('close', res));
      assert.match(got, /^HTTP\/1\.1 400 /);
    }
    assert.equal(r.relay.stats().clients, 0);
  } finally {
    await r.stop();
  }
});
