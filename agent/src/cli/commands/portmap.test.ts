import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../main.ts';

async function run(args: string[]): Promise<number> {
  const saved = process.exitCode;
  process.exitCode = undefined;
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await main(['node', 'conegate', ...args]);
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
    process.exitCode = saved;
  }
}

test('cli portmap: bad arguments exit 2', async () => {
  assert.equal(await run(['portmap', 'map', '--port', '0']), 2);
  assert.equal(await run(['portmap', 'map', '--port', '70000']), 2);
  assert.equal(await run(['portmap', 'map']), 2);
  assert.equal(await run(['portmap', 'map', '--port', '5000', '--protocol', 'sctp']), 2);
  assert.equal(await run(['portmap', 'map', '--port', '5000', '--lifetime', 'x']), 2);
  assert.equal(await run(['portmap', 'probe', '--gateway', 'not-an-ip']), 2);
  assert.equal(await run(['portmap', 'probe', '--timeout', '5']), 2);
});

test('cli portmap: probing a gateway with no service exits 1', async () => {
  // Loopback only: nothing listens on 127.0.0.1:5351 (port unreachable) or :1900.
  assert.equal(await run(['portmap', 'probe', '--gateway', '127.0.0.1', '--timeout', '300', '--json']), 1);
});
