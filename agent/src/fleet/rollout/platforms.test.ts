import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { applyScript } from '../device-txn.ts';
import { PLATFORM_ADAPTERS, hostCommand } from './platforms.ts';
import { twinHost } from './twin-fleet.ts';

const input = (root: string) => ({ host: twinHost('h', 'auto'), root, version: '1.2.3', packageHash: 'ab'.repeat(32), packagePath: `${root}/var/db/conegate/incoming/conegate-1.2.3.pkg`, stateDir: `${root}/var/db/conegate-fleet` });

test('every platform gives a transaction that is valid sh, with the root prefixed to every path', () => {
  for (const [name, a] of Object.entries(PLATFORM_ADAPTERS)) {
    for (const root of ['', '/srv/fake']) {
      const parts = a.parts(input(root));
      const script = applyScript({ stateDir: root + a.stateDir, files: [], ...a.service(input(root).host), ...parts });
      execFileSync('/bin/sh', ['-n'], { input: script });
      for (const t of [...parts.trees, ...parts.dirs]) assert.ok(t.startsWith(`${root}/`), `${name}: ${t}`);
      assert.ok(a.stateDir.startsWith('/'), name);
    }
  }
});

test('UniFi on a live gateway reloads systemd and repairs from the restored install.sh on revert; not on a fake root', () => {
  assert.match(PLATFORM_ADAPTERS.unifi.parts(input('')).revertCommands.join('\n'), /daemon-reload.*install\.sh --repair/);
  assert.deepEqual(PLATFORM_ADAPTERS.unifi.parts(input('/srv/fake')).revertCommands, []);
  assert.match(PLATFORM_ADAPTERS.unifi.parts(input('/srv/fake')).installCommands.join('\n'), /install\.sh' --root '\/srv\/fake'/);
});

test('service stand-ins come from host variables; a multi-line or non-string one is refused', () => {
  const h = twinHost('h', 'linux', { conegate_service_start: 'echo start', conegate_service_stop: 7 });
  assert.equal(hostCommand(h, 'conegate_service_start', 'x'), 'echo start');
  assert.throws(() => PLATFORM_ADAPTERS.linux.service(h), { code: 'CG_CONFIG_INVALID' });
  assert.throws(() => hostCommand(twinHost('h', 'linux', { conegate_pkg: 'a\nb' }), 'conegate_pkg', 'pkg'), { code: 'CG_CONFIG_INVALID' });
  assert.deepEqual(PLATFORM_ADAPTERS.opnsense.service(twinHost('h', 'opnsense')), { startCommand: '/usr/local/etc/rc.d/conegate start', stopCommand: '/usr/local/etc/rc.d/conegate stop' });
  assert.equal(PLATFORM_ADAPTERS.opnsense.configOwnedByPlugin && PLATFORM_ADAPTERS.pfsense.configOwnedByPlugin && !PLATFORM_ADAPTERS.unifi.configOwnedByPlugin, true);
});
