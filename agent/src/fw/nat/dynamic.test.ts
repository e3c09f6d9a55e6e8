/**
 * The dynamic pinner's edge with a FakeClock and a fake pfctl function: polls, reloads only on
 * change, through the NatApplier (same lock and state as apply), reading `pfctl -ss` line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../clock/clock.ts';
import { DynamicPinner } from './dynamic.ts';
import { pfBackend } from './backend.ts';
import { NatApplier } from './applier.ts';
import type { CommandRunner, LineRunner } from './runner.ts';
import { checkAnchorText } from '../../../../pf-rules/src/grammar.ts';

test('polls pfctl -ss on the clock, pins new sockets, reloads only when the plan changes, expires after grace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-dyn-'));
  try {
    let states = 'all udp 203.0.113.2:53001 (192.168.1.10:41641) -> 198.51.100.7:3478   MULTIPLE:SINGLE\nall udp 203.0.113.2:53002 (192.168.1.11:41641) -> 198.51.100.7:3478   SINGLE:NO_TRAFFIC\n';
    const loaded: string[] = [];
    const calls: string[] = [];
    let hooked = false;
    const { readFileSync } = await import('node:fs');
    const run: CommandRunner = async (cmd, args) => {
      calls.push(args.join(' '));
      if (args[0] === '-ss') throw new Error('pfctl -ss must be streamed, not read whole');
      // pfSense's main ruleset (the pinner's loads are refused without the reference: see below).
      if (args.join(' ') === '-s nat') return { code: 0, stdout: hooked ? 'nat-anchor "natearly/*" all\n' : '', stderr: '' };
      if (args[0] === '-a' && args[2] === '-f') loaded.push(readFileSync(args[3]!, 'utf8'));
      return { code: 0, stdout: '', stderr: '' };
    };
    let streamed = 0;
    const lines: LineRunner = async (cmd, args, onLine) => {
      assert.deepEqual([cmd, ...args], ['pfctl', '-ss']);
      for (const l of states.split('\n')) (streamed++, onLine(l));
      return { code: 0, stderr: '' };
    };
    const clock = new FakeClock();
    const applier = new NatApplier({ backend: pfBackend(run, 'natearly/conegate'), stateDir: dir, clock });
    const pinner = new DynamicPinner(
      { baseText: '# base\n', scope: { sources: ['192.168.1.0/24'] }, wans: [{ ifname: 'igb0', addresses: ['203.0.113.2'] }], pollMs: 5000, graceMs: 10_000 },
      { clock, lines, applier, randomInt: () => 0 },
    );
    pinner.start();
    clock.advance(0);
    await pinner.idle();
    assert.equal(loaded.length, 0, 'no nat-anchor reaches natearly/conegate: nothing loaded');
    hooked = true;
    await pinner.tick();
    assert.equal(loaded.length, 1);
    assert.equal(checkAnchorText(loaded[0]!).rules.length, 2);
    assert.match(loaded[0]!, /from 192\.168\.1\.10 port 41641 to any -> 203\.0\.113\.2 port 53001/);
    assert.match(loaded[0]!, /from 192\.168\.1\.11 port 41641 to any -> 203\.0\.113\.2 port 53002/);
    assert.ok(calls.includes('-n -a natearly/conegate -f ' + join(applier.dir, 'replace.conf')), 'validated before loading');
    assert.ok(streamed >= 2);
    assert.equal(await applier.current(), loaded[0], 'the state files know what is in force');

    clock.advance(5000);
    await pinner.idle();
    assert.equal(loaded.length, 1, 'same states: no reload');

    states = '';
    clock.advance(5000); // t=10 s: last seen at 5 s, within grace
    await pinner.idle();
    clock.advance(5000); // t=15 s: still within grace (10 s)
    await pinner.idle();
    assert.equal(loaded.length, 1);
    clock.advance(5000); // t=20 s: 15 s since last seen > grace: expire
    await pinner.idle();
    assert.equal(loaded.length, 2);
    assert.equal(checkAnchorText(loaded[1]!).rules.length, 0);

    await pinner.stop();
    assert.equal(clock.pendingTimers(), 0, 'stop leaves no timer armed');

    // Stopping with clearPins reloads the anchor without pins.
    states = 'all udp 203.0.113.2:53001 (192.168.1.10:41641) -> 198.51.100.7:3478   MULTIPLE:SINGLE\n';
    pinner.start();
    clock.advance(0);
    await pinner.idle();
    assert.equal(pinner.pinned.length, 1);
    await pinner.stop({ clearPins: true });
    assert.equal(checkAnchorText(loaded.at(-1)!).rules.length, 0);
    assert.equal(pinner.pinned.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
