/** Runs the TUN compliance suite against the Linux device inside a namespace of its own. */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { Netns } from './netns.ts';

let ns: Netns;
before(async () => {
  ns = await Netns.create('tun');
});
after(async () => {
  await ns?.destroy();
});

it('Linux TUN passes the TUN compliance suite in a namespace', async () => {
  const proc = ns.spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', 'agent/src/tun/linux-compliance.netns.ts'], {
    // The child is a test run of its own, not a subtest of this one.
    NODE_TEST_CONTEXT: undefined,
  });
  const code = await proc.exited;
  assert.equal(code, 0, proc.output);
  assert.match(proc.output, /# pass 8\b/, proc.output);
});
