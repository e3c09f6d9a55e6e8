import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { libc } from './libc.ts';
import { PoolReadiness } from './pool-readiness.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

/** A pipe stands in for the TUN fd: poll() treats both alike. */
function pipe(): [number, number] {
  const fds = new Int32Array(2);
  assert.equal(libc().pipe(fds), 0);
  return [fds[0]!, fds[1]!];
}

describe('PoolReadiness (poll on the libuv pool)', () => {
  it('calls back once per armed wait when the fd becomes readable', async () => {
    const [r, w] = pipe();
    let calls = 0;
    let wake = () => undefined as void;
    const readable = new PoolReadiness(r, () => {
      calls++;
      wake();
    });
    try {
      const first = new Promise<void>((res) => (wake = res));
      readable.arm();
      readable.arm(); // one wait in flight at most
      libc().write(w, Uint8Array.of(1), 1);
      await first;
      assert.equal(calls, 1);
    } finally {
      await readable.close();
      await readable.close();
      libc().close(r);
      libc().close(w);
    }
  });

  it('close() wakes a wait in flight at once (no poll timeout to sit out)', async () => {
    const [r, w] = pipe();
    const readable = new PoolReadiness(r, () => assert.fail('nothing was written'));
    readable.arm();
    await readable.close();
    libc().close(r);
    libc().close(w);
  });

  it('process.exit() with an armed wait exits (libuv joins its pool at exit)', () => {
    // An unbounded poll: without the exit hook the child would hang in libuv's pool shutdown.
    const src = `
      import { libc } from './agent/src/tun/libc.ts';
      import { PoolReadiness } from './agent/src/tun/pool-readiness.ts';
      const fds = new Int32Array(2);
      libc().pipe(fds);
      new PoolReadiness(fds[0], () => undefined, -1).arm();
      setTimeout(() => process.exit(7), 50);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd: ROOT, timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.status, 7, r.stderr);
  });
});
