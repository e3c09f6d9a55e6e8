// The conegate-lab CLI (exit codes, up/list/down) and the demo's story: site a's hard NAT blocks a
// direct path until its router becomes endpoint-independent.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab } from './lab.ts';
import { CONEGATE_NAT_CHANGE, DEMO_SPEC, LAB_EIM_EIF_CHANGE, runDemo } from './demo.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const stateDir = mkdtempSync(join(tmpdir(), 'conegate-lab-state-'));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/conegate-lab.js', ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, CONEGATE_LAB_STATE_DIR: stateDir } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('conegate-lab CLI', () => {
  after(async () => {
    await cli(['down', '--all']);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('bad usage and bad specs exit 2 with a message', async () => {
    const bad = join(stateDir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ sites: [{ name: 'a', nat: 'cone' }] }));
    const notJson = join(stateDir, 'x.json');
    writeFileSync(notJson, '{');
    const cases = [['nope'], ['up'], ['up', '--preset', 'nope'], ['up', '--spec', '/nonexistent/x.json'], ['up', '--spec', bad], ['up', '--spec', notJson], ['down']];
    const results = await Promise.all(cases.map((args) => cli(args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]!.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0, `${cases[i]!.join(' ')} explains itself`);
    });
  });

  it('presets lists topology and NAT presets', async () => {
    const r = await cli(['presets']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /two-sites/);
    assert.match(r.stdout, /symmetric .*mapping apdm, filtering apdf/);
  });

  it('up leaves a lab running; list shows it; down removes it', async () => {
    const spec = join(stateDir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ sites: [{ name: 'a' }], servers: ['s1'] }));
    const up = await cli(['up', '--spec', spec, '--json']);
    assert.equal(up.code, 0, up.stderr);
    const { id, nodes } = JSON.parse(up.stdout) as { id: string; nodes: Array<{ name: string; netns: string }> };
    const ns = nodes.find((n) => n.name === 'a.h1')!.netns;
    const ping = await new Promise<number>((resolve) => execFile('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W2', '203.0.113.10'], (err) => resolve(err ? 1 : 0)));
    assert.equal(ping, 0, 'the lab still works after the CLI exited');
    const list = await cli(['list', '--json']);
    assert.ok((JSON.parse(list.stdout) as Array<{ id: string }>).some((l) => l.id === id));
    const down = await cli(['down', id]);
    assert.equal(down.code, 0);
    assert.match(down.stdout, new RegExp(`removed ${id}`));
    const gone = await new Promise<number>((resolve) => execFile('ip', ['netns', 'exec', ns, 'true'], (err) => resolve(err ? 1 : 0)));
    assert.equal(gone, 1, 'namespace removed');
  });
});

describe('conegate-lab signals', () => {
  it('SIGINT during the demo tears the lab down and exits 130', async () => {
    const child = spawn(process.execPath, ['bin/conegate-lab.js', 'demo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const id = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start: ${out}`)), 60_000);
      child.stdout.on('data', (d: string) => {
        out += d;
        const m = /Topology \(lab (\w+),/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`${id}-`));
    assert.deepEqual(left, []);
  });
});

describe('lab demo', () => {
  it('measures the hard NAT; conegate nat apply, then an EIF router, make a direct path work; the mesh comes up and says its paths', async () => {
    const lab = await createLab(DEMO_SPEC);
    try {
      const lines: string[] = [];
      // The default change (conegate's nftables backend), then a further change through the same hook.
      const report = await runDemo(lab, { changes: [CONEGATE_NAT_CHANGE, LAB_EIM_EIF_CHANGE], print: (l) => lines.push(l) });
      const [before, afterConegate, afterEif] = report.stages;
      assert.equal(report.stages.length, 3);
      const a0 = before!.sites.find((s) => s.site === 'a')!;
      const b0 = before!.sites.find((s) => s.site === 'b')!;
      assert.deepEqual([a0.measured.mapping, a0.measured.filtering, a0.difficulty], ['apdm', 'apdf', 'hard']);
      assert.deepEqual([b0.measured.mapping, b0.measured.filtering, b0.difficulty], ['eim', 'apdf', 'easy']);
      assert.equal(b0.publicAddr, lab.addr('cgn'), 'site b is seen as its carrier');
      assert.equal(before!.direct.ok, false, JSON.stringify(before!.direct));
      // conegate's nftables backend: mapping becomes endpoint-independent, filtering stays the router's.
      const a1 = afterConegate!.sites.find((s) => s.site === 'a')!;
      assert.deepEqual([a1.measured.mapping, a1.measured.filtering], ['eim', 'apdf']);
      assert.equal(afterConegate!.direct.ok, true, JSON.stringify(afterConegate!.direct));
      assert.ok(lines.some((l) => /address-and-port-dependent mapping/.test(l)));
      assert.ok(lines.some((l) => /WORKS/.test(l)) && lines.some((l) => /FAILS/.test(l)));
      // setNat replaces only the lab's table: conegate's chain still maps; the lab's now filters eif.
      const a2 = afterEif!.sites.find((s) => s.site === 'a')!;
      assert.deepEqual([a2.measured.mapping, a2.measured.filtering], ['eim', 'eif']);
      assert.equal(afterEif!.direct.ok, true);
      // The mesh stage: coordinator, relay, both routers as mesh nodes and subnet routers.
      const mesh = report.mesh!;
      assert.equal(mesh.error, null);
      assert.match(mesh.coordinator.fingerprint, /^[0-9a-f]{64}$/);
      assert.equal(mesh.nodes.length, 2);
      for (const n of mesh.nodes) {
        assert.equal(n.peers.length, 1, n.node);
        const p = n.peers[0]!;
        // Every step is what status said: the relay region first or a direct path, nothing invented.
        assert.ok(p.timeline.length > 0, JSON.stringify(p));
        assert.ok(p.timeline.some((s) => s.kind === 'tcp-relay' && s.region === 'lab') || p.timeline.some((s) => s.kind === 'direct'), JSON.stringify(p));
      }
      // LAN to LAN through both routers, from hosts that run no mesh software.
      assert.ok(mesh.lan!.ping.received > 0, JSON.stringify(mesh.lan));
      // The TCP run is reported as it went (it can stall while a path goes through the tunnel itself,
      // see the NOT REALLY DIRECT flag): bytes when it worked, an error when not.
      assert.ok(mesh.lan!.tcp.ok ? mesh.lan!.tcp.bytes > 0 : !!mesh.lan!.tcp.error, JSON.stringify(mesh.lan));
      assert.ok(lines.some((l) => /iperf3 -t 2 a\.h1 -> b\.h1: (WORKS|FAILS)/.test(l)));
      assert.ok(lines.some((l) => /^Stage 4: the mesh/.test(l)));
    } finally {
      await lab.destroy();
    }
  });
});
