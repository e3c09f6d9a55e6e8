// The lab's API contract: exec/spawn bounds and errors, pid records, nftables access, setNat, and
// teardown guarantees (idempotent destroy, cleanup after a failed build, cleanup at process exit).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConegateError } from '../../agent/src/errors.ts';
import { createLab, Lab } from './lab.ts';
import { measureNat, startReflector } from './measure.ts';
import { newLabId } from './names.ts';
import { normalizeSpec } from './spec.ts';

// Run directly (not through scripts/run-tests.mjs), record pids in a private directory.
process.env.CONEGATE_LAB_RUNDIR ??= mkdtempSync(join(tmpdir(), 'conegate-lab-test-'));
const pidFile = () => readFileSync(join(process.env.CONEGATE_LAB_RUNDIR!, 'pids'), 'utf8');
const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Bounded wait until a PID no longer exists (a zombie counts as existing, as for the test runner). */
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}
const isCode = (code: string) => (e: unknown) => e instanceof ConegateError && e.code === code;

describe('lab lifecycle and API', () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ sites: [{ name: 'a', nat: 'symmetric' }] });
  });
  after(() => lab?.destroy());

  it('exec returns code and output, bounded by a timeout', async () => {
    const ok = await lab.exec('a.h1', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr, ok.timedOut], [3, 'out\n', 'err\n', false]);
    const slow = await lab.exec('a.h1', ['sleep', '30'], { timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.code, null);
    await assert.rejects(lab.exec('a.h1', ['false'], { check: true }), isCode('CG_COMMAND_FAILED'));
    const echo = await lab.exec('a.h1', ['cat'], { input: 'hello' });
    assert.equal(echo.stdout, 'hello');
    assert.throws(() => lab.exec('nope', ['true']), isCode('CG_USAGE'));
  });

  it('runs in the node namespace: the host sees its own address', async () => {
    const r = await lab.exec('a.h1', ['ip', '-4', '-o', 'addr', 'show', 'eth0'], { check: true });
    assert.match(r.stdout, new RegExp(`inet ${lab.addr('a.h1').replace(/\./g, '\\.')}/24`));
  });

  it('spawn captures output, waits for it, records the pid and stops by pid', async () => {
    const p = lab.spawn('a.h1', ['sh', '-c', 'echo ready; exec sleep 60']);
    const m = await p.waitForOutput(/ready/, 5000);
    assert.equal(m[0], 'ready');
    assert.match(pidFile(), new RegExp(`^${p.pid} ${lab.netns('a.h1')} sh -c`, 'm'));
    await assert.rejects(p.waitForOutput(/never/, 200), isCode('CG_TIMEOUT'));
    await p.stop();
    assert.equal(p.exited, true);
    assert.equal(alive(p.pid), false);
    await p.stop();
    const quick = lab.spawn('a.h1', ['true']);
    await assert.rejects(quick.waitForOutput(/never/, 5000), isCode('CG_COMMAND_FAILED'));
  });

  it('spawnNode runs TypeScript in the namespace', async () => {
    const p = lab.spawnNode('a.h1', 'test/lab/probe.ts', ['listen', '--port', '0', '--timeout-ms', '100']);
    await p.waitForOutput(/"event":"done","received":0/, 30_000);
    assert.deepEqual(await p.done, { code: 0, signal: null });
  });

  it('nft: list, reject a bad ruleset with nft message, swap the NAT behaviour', async () => {
    await startReflector(lab, 's1');
    await startReflector(lab, 's2');
    assert.match(await lab.nftList('a.router'), /table inet lab/);
    await assert.rejects(lab.nftApply('a.router', 'table inet x { chain y { bogus } }'), isCode('CG_FIREWALL_REJECTED'));
    assert.equal((await measureNat(lab, 'a.h1', 's1', 's2')).mapping, 'apdm');
    await lab.setNat('a.router', 'full-cone');
    assert.deepEqual(lab.node('a.router').nat, { mapping: 'eim', filtering: 'eif', hairpin: true, timeoutSec: 120 });
    const after = await measureNat(lab, 'a.h1', 's1', 's2');
    assert.deepEqual([after.mapping, after.filtering], ['eim', 'eif']);
    await lab.nftApply('a.router', 'table inet extra {\n  chain c { type filter hook forward priority 10; policy accept; }\n}\n');
    assert.match(await lab.nftList('a.router'), /table inet extra/);
    await lab.removeNat('a.router');
    assert.doesNotMatch(await lab.nftList('a.router'), /table inet lab/);
  });

  it('workDir is a private directory that goes with the lab', async () => {
    const other = await createLab({ sites: [], servers: ['s1'] });
    const dir = other.workDir;
    assert.equal(other.workDir, dir);
    assert.notEqual(dir, lab.workDir);
    assert.ok(existsSync(dir));
    await other.destroy();
    assert.equal(existsSync(dir), false);
  });

  it('uniqueIfname gives short names unique to the lab', () => {
    const a = lab.uniqueIfname('wg');
    const b = lab.uniqueIfname('wg');
    assert.notEqual(a, b);
    assert.ok(a.length <= 15 && b.length <= 15);
  });
});

describe('lab teardown guarantees', () => {
  it('destroy is idempotent and leaves no namespace or process', async () => {
    const lab = await createLab({ sites: [{ name: 'a' }], servers: ['s1'] });
    const p = lab.spawn('s1', ['sleep', '60']);
    const names = lab.nodeNames().map((n) => lab.netns(n));
    assert.ok(names.every((n) => namespaces().includes(n)));
    await Promise.all([lab.destroy(), lab.destroy()]);
    await lab.destroy();
    assert.equal(alive(p.pid), false);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(`${lab.id}-`)), []);
    assert.throws(() => lab.spawn('s1', ['true']), isCode('CG_USAGE'));
  });

  it('a failed build removes what it made', async () => {
    const id = newLabId();
    execFileSync('ip', ['netns', 'add', `${id}-s1`]);
    try {
      const lab = new Lab(normalizeSpec({ sites: [{ name: 'a' }] }), id);
      await assert.rejects(lab.build(), isCode('CG_COMMAND_FAILED'));
      assert.deepEqual(namespaces().filter((n) => n.startsWith(`${id}-`)), [`${id}-s1`]);
    } finally {
      execFileSync('ip', ['netns', 'del', `${id}-s1`]);
    }
  });

  it('a process that exits without destroy() still removes its lab', async () => {
    const script = `
      import { createLab } from './test/lab/lab.ts';
      const lab = await createLab({ sites: [{ name: 'a' }], servers: ['s1'] });
      const p = lab.spawn('s1', ['sleep', '60']);
      console.log(lab.id, p.pid);
      process.exit(0);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: new URL('../../', import.meta.url).pathname });
    const [id, pid] = r.stdout.trim().split(' ');
    assert.match(id ?? '', /^[a-z0-9]+$/, r.stderr);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(`${id}-`)), []);
    // Killed at exit; the orphan is then reaped by init, which can take a moment.
    assert.ok(await waitGone(Number(pid), 10_000), `process ${pid} survived its lab`);
  });

  it('refuses a bad spec before touching anything', async () => {
    await assert.rejects(createLab({ sites: [{ name: 'a', nat: 'bogus' as never }] }), isCode('CG_CONFIG_INVALID'));
  });
});
