/**
 * Runs the TUN compliance suite against the Linux device inside a lab namespace: the interface appears
 * in the namespace of the process that creates it, so the suite runs as a child test run there. Once
 * with the default read/write paths (poll on libuv's pool + main-thread reads, writer thread on
 * demand), then with the alternatives (poll worker + writer thread always; a worker reading and
 * transferring slabs, writes on the main thread).
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from '../../lab/lab.ts';

let lab: Lab;
before(async () => {
  lab = await createLab({ servers: ['s1'] });
});
after(async () => {
  await lab?.destroy();
});

for (const [read, write] of [['pool', 'auto'], ['poll', 'thread'], ['copy', 'main']] as const) {
  it(`Linux TUN passes the TUN compliance suite in a namespace (read ${read}, write ${write})`, async () => {
    // env -u: the child is a test run of its own, not a subtest of this file's run.
    const r = await lab.exec(
      's1',
      ['env', '-u', 'NODE_TEST_CONTEXT', `CONEGATE_TUN_READ=${read}`, `CONEGATE_TUN_WRITE=${write}`, process.execPath, '--import', 'tsx', '--test', '--test-reporter=tap', 'agent/src/tun/linux-compliance.netns.ts'],
      { timeoutMs: 60_000 },
    );
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 0, out);
    assert.match(out, /# pass 8\b/, out);
    assert.match(out, /# fail 0\b/, out);
  });
}
