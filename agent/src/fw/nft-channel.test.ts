import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isConegateError } from '../errors.ts';
import { NftChannel } from './nft-channel.ts';

const FAKE = new URL('./testdata/fake-nft-i', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'fake-nft-'));
process.env.FAKE_NFT_LOG = join(dir, 'log');
after(() => rmSync(dir, { recursive: true, force: true }));

test('nft channel: many batches, one process; a refusal names nft\'s error and the next batch works', async () => {
  const ch = new NftChannel({ argv: [FAKE] });
  await Promise.all(Array.from({ length: 50 }, (_, i) => ch.run(`add element ip t s { ${i} }`)));
  await assert.rejects(ch.run('add element ip t nosuch { 1 } FAIL'), (e) => isConegateError(e) && e.code === 'CG_FIREWALL_REJECTED' && /No such file/.test(e.message));
  await ch.run('add element ip t s { 99 }');
  assert.equal(ch.starts, 1);
  const log = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n');
  assert.equal(log.length, 51);
  assert.equal(log.at(-1), 'add element ip t s { 99 }');
  await ch.close();
  await ch.close();
});

test('nft channel: a process that dies is reported for its batch and started again for the next', async () => {
  const ch = new NftChannel({ argv: [FAKE] });
  await ch.run('add element ip t s { 1 }');
  const first = ch.pid!;
  process.kill(first, 'SIGKILL');
  // The death may be seen by the next batch (written into a dying pipe) or before it.
  await ch.run('add element ip t s { 2 }').catch((e: unknown) => assert.ok(isConegateError(e) && e.code === 'CG_COMMAND_FAILED'));
  await ch.run('add element ip t s { 3 }');
  assert.ok(ch.starts >= 2 && ch.pid !== first);
  await assert.rejects(ch.run('DIE'), (e) => isConegateError(e) && e.code === 'CG_COMMAND_FAILED');
  await ch.run('add element ip t s { 4 }');
  await ch.close();
});

test('nft channel: a batch that never finishes times out, kills nft, and the next batch gets a new one', async () => {
  const ch = new NftChannel({ argv: [FAKE], batchTimeoutMs: 300 });
  await ch.run('x');
  const first = ch.pid!;
  await assert.rejects(ch.run('HANG'), (e) => isConegateError(e) && e.code === 'CG_TIMEOUT');
  await ch.run('y');
  assert.notEqual(ch.pid, first);
  await ch.close();
});

test('nft channel: multi-line input is refused (one line is one transaction); a missing nft is CG_PEER_MISSING', async () => {
  const ch = new NftChannel({ argv: [FAKE] });
  await assert.rejects(ch.run('a\nb'), (e) => isConegateError(e) && e.code === 'CG_INTERNAL');
  const missing = new NftChannel({ argv: ['/nonexistent/nft', '-i'] });
  await assert.rejects(missing.run('x'), (e) => isConegateError(e) && e.code === 'CG_PEER_MISSING');
  await ch.close();
  await missing.close();
});
