// The NAT-PMP/PCP server on a lab router, driven by real clients: natpmpc (libnatpmp), the npm
// `nat-pmp` package and our own PCP client; mappings are enforced by the nftables backend, proven by
// packets from the lab internet reaching a LAN host. Also: policy answers on the wire, fuzzing,
// epoch behaviour across restarts, flush detection and the LAN announcements.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLab, type Lab } from './lab.ts';
import { requirePeers } from './require-peers.ts';
import type { LabProcess } from './proc.ts';
import { PROBE } from './measure.ts';
import { parseNftTable } from '../../agent/src/fw/nftables-parse.ts';

const TOOLS = 'test/lab/pmpd-tools.ts';

describe('pmpd in the netns lab', () => {
  let lab: Lab;
  let dir: string;
  let cfg: string;
  let server: LabProcess | undefined;
  let gw: string;
  let wan: string;

  const startServer = async (stateFile: string): Promise<LabProcess> => {
    const p = lab.spawnConegate('a.router', ['pmp', 'serve', '--config', cfg, '--lan', 'lan0', '--wan', 'wan0', '--backend', 'nftables', '--state', stateFile, '--backend-check-ms', '500'], {
      description: 'conegate pmp serve',
    });
    await p.waitForOutput(/serving NAT-PMP and PCP/, 30_000, 'stderr');
    return p;
  };
  const tool = async (node: string, args: string[]): Promise<any> => {
    const r = await lab.execNode(node, TOOLS, args, { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  const pmp = (node: string, ...args: string[]) => tool(node, ['pmp', '--gw', gw, ...args]);
  const pcp = (node: string, ...args: string[]) => tool(node, ['pcp', '--gw', gw, '--client', lab.addr(node), ...args]);
  const natpmpc = async (node: string, args: string[]): Promise<string> => {
    const r = await lab.exec(node, ['natpmpc', '-g', gw, ...args], { timeoutMs: 10_000 });
    assert.notEqual(r.code, null, 'natpmpc timed out');
    return r.stdout + r.stderr;
  };
  /**
   * The mappings the kernel holds (elements of our table's dnat maps), one line each in rule words:
   * `udp dport 5555 [ip saddr R[/L] [sport P]] dnat to INT:PORT`.
   */
  const nftRules = async (): Promise<string> => {
    const r = await lab.exec('a.router', ['nft', '-j', 'list', 'table', 'ip', 'cg_conegate_pmpd']);
    if (r.code !== 0) return '';
    return parseNftTable(r.stdout)
      .mappings.map((m) => {
        const remote = m.remote ? ` ip saddr ${m.remote.address}${m.remote.prefixLength === 32 ? '' : `/${m.remote.prefixLength}`}${m.remote.port ? ` sport ${m.remote.port}` : ''}` : '';
        return `${m.transport} dport ${m.externalPort}${remote} dnat to ${m.internalAddress}:${m.internalPort}`;
      })
      .join('\n');
  };
  /** Bounded wait for a condition (never a fixed sleep). */
  const waitFor = async (what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await cond()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  /** Listener on a LAN host, then senders from the internet; resolves to the sources that arrived. */
  const deliver = async (host: string, port: number, senders: { node: string; bind?: string; port?: number; count?: number }[], expect: number): Promise<string[]> => {
    // Generous bounds: the listener ends as soon as `expect` packets arrived; the timeouts only matter
    // when something is broken or the machine is very busy (every helper is a node start-up).
    const l = lab.spawnNode(host, PROBE, ['listen', '--port', String(port), '--count', String(expect), '--timeout-ms', '30000']);
    await l.waitForOutput(/"ready"/, 20_000);
    for (const s of senders) {
      const args = ['send', '--to', `${wan}:${port}`, '--count', String(s.count ?? 2), '--interval-ms', '20'];
      if (s.bind) args.push('--bind', s.bind);
      if (s.port) args.push('--port', String(s.port));
      await lab.execNode(s.node, PROBE, args, { timeoutMs: 10_000 });
    }
    await l.done;
    return l.stdout
      .split('\n')
      .filter((x) => x.includes('"recv"'))
      .map((x) => JSON.parse(x).from as string);
  };

  before(async () => {
    requirePeers({ natpmpc: 'natpmpc', nft: 'nftables' });
    lab = await createLab({ sites: [{ name: 'a', nat: 'symmetric', hosts: ['h1', 'h2'] }], servers: ['s1', 's2'] });
    dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'pmpd-lab-'));
    cfg = join(dir, 'conegate.json');
    // High rate limit so the fuzz test reaches the decoder; everything else at its safe default.
    writeFileSync(cfg, JSON.stringify({ log: { level: 'info' }, pmp: { requestsPerClientPerSec: 5000 } }));
    gw = lab.node('a.router').lan!.v4!;
    wan = lab.addr('a.router');
    server = await startServer(join(dir, 'state.json'));
  });
  after(async () => {
    await server?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('natpmpc gets the public address and creates, renews and deletes UDP and TCP mappings', async () => {
    const pub = await natpmpc('a.h1', []);
    assert.match(pub, new RegExp(`Public IP address : ${wan.replaceAll('.', '\\.')}`));
    for (const [proto, port] of [['udp', 5555], ['tcp', 8022]] as const) {
      const add = await natpmpc('a.h1', ['-a', String(port), String(port), proto, '3600']);
      assert.match(add, new RegExp(`Mapped public port ${port} protocol ${proto.toUpperCase()} to local port ${port} liftime 3600`));
      assert.match(await nftRules(), new RegExp(`${proto} dport ${port} dnat to ${lab.addr('a.h1').replaceAll('.', '\\.')}:${port}`));
      const renew = await natpmpc('a.h1', ['-a', String(port), String(port), proto, '3600']);
      assert.match(renew, new RegExp(`Mapped public port ${port} protocol ${proto.toUpperCase()}`));
      await natpmpc('a.h1', ['-a', String(port), String(port), proto, '0']);
      assert.doesNotMatch(await nftRules(), new RegExp(`${proto} dport ${port} `));
    }
  });

  it('a host on the lab internet reaches the LAN host through UDP and TCP mappings (and not without)', async () => {
    const h1 = lab.addr('a.h1');
    assert.match(await natpmpc('a.h1', ['-a', '6000', '6000', 'udp', '600']), /Mapped public port 6000 protocol UDP/);
    assert.deepEqual(new Set(await deliver('a.h1', 6000, [{ node: 's1', bind: lab.addr('s1'), port: 40001 }], 2)), new Set([`${lab.addr('s1')}:40001`]));
    assert.match(await natpmpc('a.h1', ['-a', '6001', '6001', 'tcp', '600']), /Mapped public port 6001 protocol TCP/);
    const srv = lab.spawnNode('a.h1', PROBE, ['tcp-serve', '--bind', `${h1}:6001`, '--duration-ms', '60000']);
    const srv2 = lab.spawnNode('a.h1', PROBE, ['tcp-serve', '--bind', `${h1}:6002`, '--duration-ms', '60000']);
    await Promise.all([srv.waitForOutput(/ready|listening/i, 20_000), srv2.waitForOutput(/ready|listening/i, 20_000)]);
    const ok = await lab.execNode('s1', PROBE, ['tcp-connect', '--to', `${wan}:6001`, '--timeout-ms', '3000']);
    assert.match(ok.stdout, /"connected":true/);
    const unmapped = await lab.execNode('s1', PROBE, ['tcp-connect', '--to', `${wan}:6002`, '--timeout-ms', '1500']);
    assert.match(unmapped.stdout, /"connected":false/);
    await Promise.all([srv.stop(), srv2.stop()]);
  });

  it('the npm nat-pmp client gets the address and maps, renews and deletes UDP and TCP', async () => {
    const pub = await tool('a.h2', ['npm', '--gw', gw, '--op', 'public']);
    assert.deepEqual(pub.answer.ip, wan.split('.').map(Number));
    for (const [op, port] of [['udp', 7000], ['tcp', 7001]] as const) {
      const m = await tool('a.h2', ['npm', '--gw', gw, '--op', op, '--internal', String(port), '--external', String(port), '--lifetime', '600']);
      assert.deepEqual([m.answer.private, m.answer.public, m.answer.ttl, m.answer.type], [port, port, 600, op]);
      const again = await tool('a.h2', ['npm', '--gw', gw, '--op', op, '--internal', String(port), '--external', String(port), '--lifetime', '900']);
      assert.equal(again.answer.ttl, 900);
      assert.match(await nftRules(), new RegExp(`${op} dport ${port} dnat to ${lab.addr('a.h2').replaceAll('.', '\\.')}:${port}`));
      const del = await tool('a.h2', ['npm', '--gw', gw, '--op', op, '--internal', String(port), '--external', '0', '--lifetime', '0']);
      assert.equal(del.answer.ttl, 0);
      assert.doesNotMatch(await nftRules(), new RegExp(`${op} dport ${port} `));
    }
  });

  it('PCP MAP with FILTER and PCP PEER succeed and are enforced in nftables', async () => {
    const s1 = lab.addr('s1');
    const s2 = lab.addr('s2');
    const map = await pcp('a.h1', '--op', 'map', '--internal', '7100', '--external', '7100', '--lifetime', '600', '--filter', `${s1}:0`);
    assert.deepEqual([map.answer.result, map.answer.map.externalPort, map.answer.lifetimeSec], [0, 7100, 600]);
    assert.match(await nftRules(), new RegExp(`ip saddr ${s1.replaceAll('.', '\\.')} dnat to`));
    // The filtered-out sender goes first: had it been let in, it would arrive before the allowed one.
    const fromMap = await deliver('a.h1', 7100, [{ node: 's2', bind: s2, port: 41000 }, { node: 's1', bind: s1, port: 41001 }], 2);
    assert.deepEqual(new Set(fromMap), new Set([`${s1}:41001`]));

    const peer = await pcp('a.h1', '--op', 'peer', '--proto', '17', '--internal', '7200', '--external', '7200', '--lifetime', '600', '--peer', `${s1}:7201`, '--nonce', 'aabbccddeeff001122334455');
    assert.deepEqual([peer.answer.result, peer.answer.opcode, peer.answer.peer.externalPort], [0, 'peer', 7200]);
    const fromPeer = await deliver('a.h1', 7200, [{ node: 's1', bind: s1, port: 7202 }, { node: 's1', bind: s1, port: 7201 }], 2);
    assert.deepEqual(new Set(fromPeer), new Set([`${s1}:7201`]));
  });

  it('policy refusals carry the RFC result codes on the wire', async () => {
    assert.equal((await pmp('a.h1', '--op', 'tcp', '--internal', '80', '--external', '80', '--lifetime', '600')).answer.result, 2, 'privileged port: NOT_AUTHORIZED');
    assert.match(await natpmpc('a.h1', ['-a', '22', '22', 'tcp', '600']), /NOT AUTHORIZED|returned -?\d+ \(.*(AUTHORI|REFUSED)/i);
    assert.equal((await pcp('a.h1', '--op', 'map', '--internal', '7300', '--third-party', lab.addr('a.h2'))).answer.result, 2, 'THIRD_PARTY: NOT_AUTHORIZED');
    assert.equal((await pcp('a.h1', '--op', 'map', '--proto', '1', '--internal', '7300')).answer.result, 9, 'UNSUPP_PROTOCOL');
    const mismatch = await tool('a.h1', ['pcp', '--gw', gw, '--client', lab.addr('a.h2'), '--op', 'map', '--internal', '7300']);
    assert.equal(mismatch.answer.result, 12, 'ADDRESS_MISMATCH');
    assert.equal((await pmp('a.h1', '--op', 'udp', '--internal', '7300', '--external', '5351', '--lifetime', '60')).answer.externalPort === 5351, false, 'the server port is never handed out');
  });

  it('fuzz: random and mutated packets never crash the server; every answer is well formed', async () => {
    const r = await tool('a.h2', ['fuzz', '--gw', gw, '--client', lab.addr('a.h2'), '--count', '3000', '--seed', '7']);
    assert.deepEqual(r.bad, []);
    assert.ok(r.answered > 100, `only ${r.answered} answers`);
    assert.equal(server!.exited, false);
    // It may still be working through queued firewall changes; it must come back to answering maps.
    await waitFor('the server answers a map request again', async () => (await pmp('a.h1', '--op', 'udp', '--internal', '7500', '--lifetime', '60')).answer?.result === 0, 30_000);
  });

  it('epoch: clean restart continues it; restart without state sends it back and is announced; a flush is detected', async () => {
    await waitFor('epoch >= 8', async () => (await pmp('a.h1', '--op', 'public')).answer?.epochSec >= 8);
    assert.equal((await pmp('a.h1', '--op', 'udp', '--internal', '7400', '--external', '7400', '--lifetime', '600')).answer.result, 0);
    const e1 = (await pmp('a.h1', '--op', 'public')).answer.epochSec as number;

    // Clean restart with the same state file: epoch continues, the mapping is kept.
    await server!.stop();
    let listener = lab.spawnNode('a.h2', TOOLS, ['mcast-listen', '--count', '8', '--timeout-ms', '30000']);
    const listener6 = lab.spawnNode('a.h2', TOOLS, ['mcast-listen', '--v6', 'eth0', '--count', '3', '--timeout-ms', '30000']);
    await Promise.all([listener.waitForOutput(/"ready"/, 20_000), listener6.waitForOutput(/"ready"/, 20_000)]);
    server = await startServer(join(dir, 'state.json'));
    const e2 = (await pmp('a.h1', '--op', 'public')).answer.epochSec as number;
    assert.ok(e2 >= e1, `epoch continued: ${e1} -> ${e2}`);
    assert.match(await nftRules(), /udp dport 7400 /);
    await listener.done;
    const seen = (p: LabProcess) => p.stdout.split('\n').filter((x) => x.includes('"recv"')).map((x) => JSON.parse(x));
    const clean = seen(listener);
    assert.ok(clean.some((a) => a.hex.startsWith('0080')), 'NAT-PMP announcement seen');
    assert.ok(clean.some((a) => a.hex.startsWith('0280')), 'PCP ANNOUNCE seen');
    assert.ok(clean.filter((a) => a.hex.startsWith('0080')).every((a) => a.decoded.epochSec >= e1));
    await listener6.done;
    const v6 = seen(listener6);
    assert.ok(v6.length >= 3 && v6.every((a) => a.hex.startsWith('0280') && a.fromPort === 5351 && a.from.startsWith('fe80:')), `PCP ANNOUNCE on [ff02::1]:5350: ${JSON.stringify(v6)}`);

    // Restart without state: the table is lost, the epoch goes back, the LAN is told, clients re-map.
    await server!.stop();
    listener = lab.spawnNode('a.h2', TOOLS, ['mcast-listen', '--count', '8', '--timeout-ms', '30000']);
    await listener.waitForOutput(/"ready"/, 20_000);
    server = await startServer(join(dir, 'fresh-state.json'));
    const e3 = (await pmp('a.h1', '--op', 'public')).answer.epochSec as number;
    assert.ok(e3 < e2 - 2, `epoch went back: ${e2} -> ${e3}`);
    assert.doesNotMatch(await nftRules(), /dport 7400 /);
    await listener.done;
    const fresh = seen(listener).filter((a) => a.hex.startsWith('0080'));
    assert.ok(fresh.length >= 3, `announcements: ${fresh.length}`);
    assert.ok(fresh.every((a) => a.decoded.epochSec < e2 - 2 && a.decoded.externalAddress === wan.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')));
    assert.equal((await pmp('a.h1', '--op', 'udp', '--internal', '7400', '--external', '7400', '--lifetime', '600')).answer.externalPort, 7400);

    // Someone flushes our rules: the server notices (reads the firewall back), resets the epoch.
    await waitFor('epoch >= 6', async () => (await pmp('a.h1', '--op', 'public')).answer?.epochSec >= 6);
    const list = await lab.execConegate('a.router', ['pmp', 'list', '--json', '--backend', 'nftables', '--state', join(dir, 'fresh-state.json')]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(JSON.parse(list.stdout).firewall.some((m: { internalPort: number }) => m.internalPort === 7400));
    const flush = await lab.execConegate('a.router', ['pmp', 'flush', '--json', '--backend', 'nftables']);
    assert.equal(JSON.parse(flush.stdout).removed, 1);
    await server!.waitForOutput(/mapping table lost, new epoch/, 30_000, 'stderr');
    assert.ok((await pmp('a.h1', '--op', 'public')).answer.epochSec < 6, 'epoch went back after the flush');
  });

  it('the conegate portmap client maps over PCP and re-creates its mapping when the server loses its table', async () => {
    const probe = await lab.execConegate('a.h1', ['portmap', 'probe', '--gateway', gw, '--json'], { timeoutMs: 30_000 });
    const offered = JSON.parse(probe.stdout);
    assert.deepEqual([offered.pcp, offered.natpmp, offered.externalAddress], [true, true, wan]);
    const client = lab.spawnConegate('a.h1', ['portmap', 'map', '--port', '7600', '--gateway', gw, '--json'], { description: 'conegate portmap map' });
    await client.waitForOutput(/"reason":"created"/, 30_000, 'stdout');
    assert.match(client.stdout, /"via":"pcp"/);
    assert.match(await nftRules(), /udp dport 7600 dnat to/);
    // Restart without state: the client hears the announcement with the epoch gone back and re-maps.
    await server!.stop();
    server = await startServer(join(dir, 'another-fresh-state.json'));
    await client.waitForOutput(/"reason":"recreated"/, 30_000, 'stdout');
    assert.match(client.stdout, /"event":"epochReset"/);
    assert.match(await nftRules(), /udp dport 7600 dnat to/);
    // A clean client stop releases the mapping (PCP MAP, lifetime 0, same nonce).
    await client.stop();
    await waitFor('mapping released', async () => !/udp dport 7600 /.test(await nftRules()));
  });
});
