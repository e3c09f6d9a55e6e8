// The NAT-PMP/PCP server follows its WAN address: a changed address is announced with a new epoch
// (RFC 6886 3.2.1, RFC 6887 8.5) as soon as the kernel reports it, and an address that appears after
// start is announced and used at once. The poll is set to 10 minutes here, so only the address
// monitor can make these pass within their bounds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import { requirePeers } from './require-peers.ts';
import type { LabProcess } from './proc.ts';

const TOOLS = 'test/lab/pmpd-tools.ts';
const CLI = 'bin/conegate.js';
const hexOf = (ip: string) => ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');

describe('pmpd follows the WAN address in the netns lab', () => {
  let lab: Lab;
  let dir: string;
  let server: LabProcess | undefined;
  let oldWan: string;
  let oldPrefix: number;

  const listen = async (count: number): Promise<LabProcess> => {
    const l = lab.spawnNode('a.h1', TOOLS, ['mcast-listen', '--count', String(count), '--timeout-ms', '30000']);
    await l.waitForOutput(/"ready"/, 20_000);
    return l;
  };
  const publicAnswer = async () => {
    const r = await lab.execNode('a.h1', TOOLS, ['pmp', '--gw', lab.node('a.router').lan!.v4!, '--op', 'public'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!).answer;
  };
  const ip = async (...args: string[]) => {
    const r = await lab.exec('a.router', ['ip', ...args]);
    assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  /** Waits for a NAT-PMP announcement of `address` and returns it with the ms it took from `sinceMs`. */
  const announced = async (l: LabProcess, address: string, sinceMs: number) => {
    const m = await l.waitForOutput(new RegExp(`"recv".*"hex":"0080[0-9a-f]{12}${hexOf(address)}"`), 10_000);
    const line = JSON.parse(l.stdout.split('\n').find((x) => x.includes(m[0]!))!);
    return { epochSec: line.decoded.epochSec as number, ms: Date.now() - sinceMs };
  };

  before(async () => {
    requirePeers({ ip: 'iproute2' });
    lab = await createLab({ sites: [{ name: 'a', nat: 'port-restricted', hosts: ['h1'] }], servers: ['s1'] });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'pmpd-wan-'));
    const cfg = join(dir, 'conegate.json');
    writeFileSync(cfg, JSON.stringify({ log: { level: 'info' } }));
    oldWan = lab.node('a.router').wan!.v4!;
    oldPrefix = lab.node('a.router').wan!.v4Prefix!;
    server = lab.spawnNode('a.router', CLI, ['pmp', 'serve', '--config', cfg, '--lan', 'lan0', '--wan', 'wan0', '--backend', 'memory', '--state', join(dir, 'state.json'), '--wan-check-ms', '600000'], {
      description: 'conegate pmp serve',
    });
    await server.waitForOutput(/serving NAT-PMP and PCP/, 30_000, 'stderr');
  });
  after(async () => {
    await server?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a changed WAN address is announced at once, with the epoch back at 0', async (t) => {
    // Let the epoch grow so its reset is visible (bounded wait on the server's own answer).
    const end = Date.now() + 30_000;
    while ((await publicAnswer())?.epochSec < 3) {
      assert.ok(Date.now() < end, 'epoch never reached 3 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const l = await listen(3);
    const next = oldWan.startsWith('203.0.113.') ? '198.51.100.250' : '203.0.113.250';
    // A /32 beside the old address (not a secondary of it), then the old one goes: one change, old -> new.
    await ip('addr', 'add', `${next}/32`, 'dev', 'wan0');
    const t0 = Date.now();
    await ip('addr', 'del', `${oldWan}/${oldPrefix}`, 'dev', 'wan0');
    const a = await announced(l, next, t0);
    assert.ok(a.epochSec <= 1, `epoch restarted: ${a.epochSec}`);
    t.diagnostic(`WAN change announced ${a.ms} ms after the address was removed (poll interval 600 s; shared 2-core machine)`);
    await l.stop();
    await server!.waitForOutput(/WAN address changed/, 5000, 'stderr');
  });

  it('a WAN address that appears after start is announced and used at once', async (t) => {
    const current = oldWan.startsWith('203.0.113.') ? '198.51.100.250' : '203.0.113.250';
    await ip('addr', 'del', `${current}/32`, 'dev', 'wan0');
    await server!.waitForOutput(/"to":null/, 10_000, 'stderr');
    const l = await listen(2);
    const t0 = Date.now();
    await ip('addr', 'add', `${oldWan}/${oldPrefix}`, 'dev', 'wan0');
    const a = await announced(l, oldWan, t0);
    t.diagnostic(`new WAN address announced ${a.ms} ms after it was added`);
    await l.stop();
    const answer = await publicAnswer();
    assert.deepEqual([answer.result, answer.externalAddress], [0, hexOf(oldWan)]);
  });
});
