import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { silentLogger } from '../log/logger.ts';
import { MonitorWatch, monitorCommand } from './wanwatch.ts';

test('address monitor: each output line asks for a look; stop() ends the child by its PID; no monitor where there is none', async () => {
  assert.deepEqual(monitorCommand('linux'), ['ip', ['-o', 'monitor', 'address']]);
  assert.deepEqual(monitorCommand('freebsd'), ['route', ['-n', 'monitor']]);
  assert.equal(monitorCommand('darwin'), undefined);
  const stdout = new PassThrough();
  const child = Object.assign(new EventEmitter(), { stdout, pid: 999_999_999 }) as unknown as ChildProcess;
  const spawned: string[][] = [];
  const w = new MonitorWatch({ log: silentLogger(), spawn: (cmd, args) => (spawned.push([cmd, ...args]), child) }, ['ip', ['-o', 'monitor', 'address']]);
  let changes = 0;
  w.start(() => changes++);
  w.start(() => changes++);
  assert.deepEqual(spawned, [['ip', '-o', 'monitor', 'address']], 'started once');
  stdout.write('3: wan0    inet 203.0.113.9/24 scope global wan0\\       valid_lft forever preferred_lft forever\n');
  await new Promise((r) => setImmediate(r));
  assert.equal(changes, 1);
  w.stop();
  w.stop();
  new MonitorWatch({ log: silentLogger() }, undefined).start(() => changes++);
});
