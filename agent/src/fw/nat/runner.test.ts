/** The line runner hands a command's stdout over line by line, lines split across writes joined whole. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processLineRunner } from './runner.ts';
import { isConegateError } from '../../errors.ts';

test('processLineRunner delivers each line once, whole, and the exit status', async () => {
  const got: string[] = [];
  const r = await processLineRunner()('sh', ['-c', 'printf "all udp 1"; printf "0.0.0.1:5 -> 2\\nsecond\\n"; printf "last"; echo oops >&2; exit 3'], (l) => got.push(l));
  assert.deepEqual(got, ['all udp 10.0.0.1:5 -> 2', 'second', 'last']);
  assert.equal(r.code, 3);
  assert.equal(r.stderr.trim(), 'oops');
});

test('processLineRunner: a missing tool is CG_PEER_MISSING', async () => {
  await assert.rejects(processLineRunner()('conegate-no-such-tool', [], () => undefined), (e: unknown) => isConegateError(e) && e.code === 'CG_PEER_MISSING');
});
