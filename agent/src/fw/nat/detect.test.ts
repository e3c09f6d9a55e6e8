import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectPfCapabilities, anchorHooked } from './detect.ts';
import { parseAnchorRefs } from '../pf-anchors.ts';
import type { CommandRunner } from './runner.ts';
import type { PlatformInfo } from '../../platform/detect.ts';

/** A fake host: answers pfctl's parse test and anchor listing as told, records the calls. */
function fakeHost(o: { acceptsEim: boolean; anchors: string }): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = async (cmd, args, opts) => {
    calls.push(`${cmd} ${args.join(' ')}${opts?.input ? ` <<< ${opts.input.trim()}` : ''}`);
    if (args[0] === '-nf') return o.acceptsEim ? { code: 0, stdout: '', stderr: '' } : { code: 1, stdout: '', stderr: 'stdin:1: syntax error\n' };
    return { code: 0, stdout: o.anchors, stderr: '' };
  };
  return { run, calls };
}

const PFSENSE_SN = 'nat-anchor "natearly/*" all\nnat-anchor "natrules/*" all\nnat on igb0 inet from 192.168.1.0/24 to any -> 203.0.113.2 port 1024:65535\n';

test('pfSense 2.9.0 whose pfctl accepts the option, with natearly/*: EIM, anchor hooked', async () => {
  const info: PlatformInfo = { kind: 'pfsense', name: 'pfSense CE 2.9.0-RELEASE', version: '2.9.0-RELEASE', freebsdVersion: '15.0-RELEASE', conegateConfig: '', evidence: [] };
  const { run, calls } = fakeHost({ acceptsEim: true, anchors: PFSENSE_SN });
  const cap = await detectPfCapabilities(info, run);
  assert.equal(cap.eim.eim, true);
  assert.equal(cap.anchor, 'natearly/conegate');
  assert.equal(cap.anchorHooked, true);
  assert.match(calls[0]!, /^pfctl -nf - <<< nat on lo0 .* endpoint-independent$/);
  assert.equal(calls[1], 'pfctl -s nat');
});

test('OPNsense 25.7 (FreeBSD 14): parse fails, no EIM; anchor not registered yet', async () => {
  const info: PlatformInfo = { kind: 'opnsense', name: 'OPNsense 25.7.6_2', version: '25.7.6_2', freebsdVersion: '14.3-RELEASE-p4', conegateConfig: '', evidence: [] };
  const cap = await detectPfCapabilities(info, fakeHost({ acceptsEim: false, anchors: '' }).run);
  assert.equal(cap.parseAccepted, false);
  assert.equal(cap.eim.eim, false);
  assert.equal(cap.anchorHooked, false);
});

test('FreeBSD 15.0 parses the option but is refused by the version gate (panic fixes)', async () => {
  const info: PlatformInfo = { kind: 'freebsd', name: 'FreeBSD 15.0-RELEASE', version: '15.0-RELEASE', freebsdVersion: '15.0-RELEASE', conegateConfig: '', evidence: [] };
  const cap = await detectPfCapabilities(info, fakeHost({ acceptsEim: true, anchors: 'nat-anchor "conegate" all\n' }).run);
  assert.equal(cap.parseAccepted, true);
  assert.equal(cap.eim.eim, false);
  assert.match(cap.eim.reason, /D53737/);
  assert.equal(cap.anchorHooked, true);
});

test('anchor listing parsing and wildcard hooks', () => {
  assert.deepEqual(parseAnchorRefs(PFSENSE_SN + 'rdr-anchor "tftp-proxy/*" all\nanchor "userrules/*" all\n'), [
    { type: 'nat', name: 'natearly/*' },
    { type: 'nat', name: 'natrules/*' },
    { type: 'rdr', name: 'tftp-proxy/*' },
    { type: 'filter', name: 'userrules/*' },
  ]);
  assert.equal(anchorHooked(['natearly/*'], 'natearly/conegate/deeper'), false, 'a wildcard reaches one level only');
  assert.equal(anchorHooked(['natearly/*'], 'natearly/conegate'), true);
  assert.equal(anchorHooked(['natrules/*'], 'natearly/conegate'), false);
  assert.equal(anchorHooked(['conegate'], 'conegate'), true);
});
