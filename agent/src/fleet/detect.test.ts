import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { detectFromMarkers, markerScript, parseMarkerOutput, type MarkerContents } from './detect.ts';

const BSD = 'USERLAND_VERSION="14.2-RELEASE-p1"\n';
const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';

test('marker rules, in the order that matters', () => {
  const cases: [MarkerContents, string, string | undefined][] = [
    [{ '/usr/local/opnsense/version/core': '{"product_name":"OPNsense","product_version":"25.7.6_2"}', '/bin/freebsd-version': BSD }, 'opnsense', '25.7.6_2'],
    [{ '/usr/local/opnsense/version/core': 'not json' }, 'opnsense', undefined],
    [{ '/etc/version': '2.7.2-RELEASE\n', '/etc/pfSense-rc': '', '/etc/version.patch': '1', '/bin/freebsd-version': BSD }, 'pfsense', '2.7.2-RELEASE-p1'],
    [{ '/etc/version': '24.11-RELEASE\n', '/etc/inc/globals.inc': '' }, 'pfsense', '24.11-RELEASE'],
    [{ '/etc/version': '2.7.2-RELEASE\n', '/bin/freebsd-version': BSD }, 'unknown', undefined],
    [{ '/usr/bin/ubnt-device-info': '', '/usr/lib/version': 'UDMPRO.al324.v5.1.31.5acc35d.260819.1714', '/etc/os-release': DEBIAN }, 'unifi', '5.1.31'],
    [{ '/etc/os-release': DEBIAN }, 'linux', 'debian 12'],
    [{ '/usr/lib/os-release': 'ID=alpine\n' }, 'linux', undefined],
    [{}, 'unknown', undefined],
  ];
  for (const [files, platform, version] of cases) {
    const d = detectFromMarkers(files);
    assert.equal(d.platform, platform, JSON.stringify(files));
    assert.equal(d.version, version, JSON.stringify(files));
    assert.ok(d.evidence.length > 0);
  }
});

test('the marker script, run by a real /bin/sh over a fake pfSense tree, round-trips to the same detection', () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-fleet-markers-'));
  try {
    const put = (p: string, text: string): void => {
      mkdirSync(dirname(join(root, p)), { recursive: true });
      writeFileSync(join(root, p), text);
    };
    put('/etc/version', '2.7.2-RELEASE\n');
    put('/etc/pfSense-rc', '#!/bin/sh\n');
    put('/bin/freebsd-version', `#!/bin/sh\n${BSD}`);
    put("/etc/os-release", "ID=freebsd\nNAME='it''s'\n");
    const out = execFileSync('/bin/sh', ['-s'], { input: markerScript(root), encoding: 'utf8' });
    const files = parseMarkerOutput(out);
    assert.deepEqual(Object.keys(files).sort(), ['/bin/freebsd-version', '/etc/os-release', '/etc/pfSense-rc', '/etc/version']);
    assert.equal(files['/etc/pfSense-rc'], '', 'presence-only markers are not read');
    assert.equal(files['/etc/version'], '2.7.2-RELEASE\n');
    assert.deepEqual(detectFromMarkers(files), { platform: 'pfsense', version: '2.7.2-RELEASE', evidence: '/etc/version + /etc/pfSense-rc' });
    assert.ok(!markerScript().includes('\n\n'), 'one command a line, no blank lines');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
