/**
 * The nftables backend in the netns lab: a router whose NAT is address-and-port-dependent
 * (`snat ... random`, the lab's "symmetric" preset) becomes endpoint-independent with filtering
 * still address-and-port-dependent after `apply`, measured with the lab's NAT probes; two LAN
 * hosts using the same source port get stable, distinct external ports; and `revert` restores the
 * previous ruleset text exactly and the probes see the symmetric NAT again; and `kill -9` of the
 * applier during the grace period still restores the previous ruleset at the deadline (watchdog).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, type Lab } from './lab.ts';
import { measureNat, probeClient, startReflector, PROBE } from './measure.ts';
import { generateNft } from '../../pf-rules/src/nft/generate.ts';
import { nftBackend } from '../../agent/src/fw/nat/backend.ts';
import { NatApplier } from '../../agent/src/fw/nat/applier.ts';
import type { CommandRunner } from '../../agent/src/fw/nat/runner.ts';
import { realClock } from '../../agent/src/clock/clock.ts';
import { pidAlive } from '../../agent/src/fw/nat/files.ts';

let lab: Lab;
let stateDir: string;
const ROUTER = 'a.router';

before(async () => {
  lab = await createLab({ sites: [{ name: 'a', nat: 'symmetric', hosts: ['h1', 'h2'] }], servers: ['s1', 's2', 's3'] });
  await startReflector(lab, 's1');
  await startReflector(lab, 's2');
  stateDir = mkdtempSync(join(tmpdir(), 'cg-nft-lab-'));
});

after(async () => {
  await lab?.destroy();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** Runs nft inside the router's namespace (same filesystem, so the applier's files are visible). */
const inRouter: CommandRunner = async (cmd, args, opts = {}) => {
  const r = await lab.exec(ROUTER, [cmd, ...args], { timeoutMs: opts.timeoutMs ?? 10_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
};

/** The router's ruleset without set/map elements (`nft -t`): the lab's dynamic maps fill with traffic records. */
async function rulesText(): Promise<string> {
  const r = await lab.exec(ROUTER, ['nft', '-t', 'list', 'ruleset'], { check: true });
  return r.stdout;
}

/** Whether anything arrives at a LAN socket from a host it never sent to (a third host). */
async function unsolicitedArrives(): Promise<boolean> {
  const s1 = `${lab.addr('s1')}:3478`;
  const listener = lab.spawnNode('a.h1', PROBE, ['listen', '--send-to', s1, '--count', '1', '--timeout-ms', '2500']);
  const mapped = await listener.waitForOutput(/\{[^\n]*"event":"mapped"[^\n]*\}/, 5000);
  const seen = (JSON.parse(mapped[0]) as { seen: string }).seen;
  await lab.execNode('s3', PROBE, ['send', '--to', seen, '--count', '3', '--interval-ms', '50']);
  const done = await listener.waitForOutput(/\{[^\n]*"event":"done"[^\n]*\}/, 6000);
  return (JSON.parse(done[0]) as { received: number }).received > 0;
}

test('nftables backend: APDM router becomes EIM with APDF filtering; revert restores it exactly', async () => {
  const before = await measureNat(lab, 'a.h1', 's1', 's2');
  assert.equal(before.mapping, 'apdm', `lab router should start symmetric: ${JSON.stringify(before.seen)}`);
  const rulesetBefore = await rulesText();

  const h1 = lab.addr('a.h1');
  const h2 = lab.addr('a.h2');
  // The chosen hosts, every source port; 41641 (the mesh port) is shared by both, so h2 gets an explicit mapping.
  const { text } = generateNft({ wans: [{ ifname: lab.node(ROUTER).wan!.name }], sources: [`${h1}/32`, `${h2}/32`], ports: [], sharedPorts: [41641] });
  const applier = new NatApplier({ backend: nftBackend(inRouter, 'ip conegate'), stateDir, clock: realClock });
  const result = await applier.apply(text, { confirmMs: 10_000, pollMs: 50, healthCheck: async () => true });
  assert.equal(result.outcome, 'confirmed');
  assert.match(await rulesText(), /table ip conegate/);

  const after = await measureNat(lab, 'a.h1', 's1', 's2');
  assert.equal(after.mapping, 'eim', `same external port for every destination: ${JSON.stringify(after.seen)}`);
  assert.equal(after.filtering, 'apdf', 'filtering stays port-restricted: no reply from another port or address');
  assert.equal(await unsolicitedArrives(), false, 'unsolicited packets from a third host are still dropped');

  const reverted = await applier.revert();
  assert.equal(reverted.outcome, 'rolled-back');
  assert.equal(await rulesText(), rulesetBefore, 'revert restores the previous ruleset text exactly');
  const again = await measureNat(lab, 'a.h1', 's1', 's2');
  assert.equal(again.mapping, 'apdm', `back to symmetric: ${JSON.stringify(again.seen)}`);
});

test('conegate nat apply/revert --backend nftables: two LAN hosts on the mesh port get stable, distinct external ports', async () => {
  const rulesetBefore = await rulesText();
  const h1 = lab.addr('a.h1');
  const h2 = lab.addr('a.h2');
  const cli = (args: string[]) => lab.execConegate(ROUTER, ['nat', ...args, '--backend', 'nftables', '--state-dir', join(stateDir, 'cli')], { env: { CONEGATE_CONFIG: '' }, timeoutMs: 30_000 });
  const applied = await cli(['apply', '--wan', lab.node(ROUTER).wan!.name, '--sources', `${h1}/32,${h2}/32`, '--ports', '41641', '--confirm-sec', '0', '--json']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(JSON.parse(applied.stdout).outcome, 'confirmed');
  const targets = [`${lab.addr('s1')}:3478`, `${lab.addr('s2')}:3478`, `${lab.addr('s1', { alt: true })}:3479`];
  const r1 = await probeClient(lab, 'a.h1', targets, { port: 41641 });
  const r2 = await probeClient(lab, 'a.h2', targets, { port: 41641 });
  const p1 = new Set(r1.results.map((r) => r.seen?.split(':')[1]));
  const p2 = new Set(r2.results.map((r) => r.seen?.split(':')[1]));
  assert.deepEqual([...p1], ['41641'], `h1 keeps its port for every server: ${JSON.stringify(r1.results)}`);
  assert.deepEqual([...p2], ['61000'], `h2 gets one other port for every server: ${JSON.stringify(r2.results)}`);
  // Stable: a second round from the same sockets' ports sees the same mappings.
  const again = await probeClient(lab, 'a.h2', targets.slice(0, 1), { port: 41641 });
  assert.equal(again.results[0]?.seen?.split(':')[1], '61000');
  const reverted = await cli(['revert', '--json']);
  assert.equal(reverted.code, 0, reverted.stderr);
  assert.equal(await rulesText(), rulesetBefore, 'revert restores the ruleset text exactly');
});

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('kill -9 of conegate nat apply --backend nftables during the grace period: at the deadline the previous ruleset is back', async () => {
  const rulesetBefore = await rulesText();
  const dir = join(stateDir, 'kill9');
  const pending = join(dir, 'nat', 'nftables-ip_conegate', 'pending.json');
  const applier = lab.spawnNode(ROUTER, 'bin/conegate.js', ['nat', 'apply', '--backend', 'nftables', '--state-dir', dir, '--wan', lab.node(ROUTER).wan!.name, '--sources', `${lab.addr('a.h1')}/32`, '--confirm-sec', '4'], { env: { CONEGATE_CONFIG: '' } });
  await waitFor('the new table and the watchdog', async () => existsSync(pending) && JSON.parse(readFileSync(pending, 'utf8')).watchdogPid !== undefined && /table ip conegate/.test(await rulesText()));
  const watchdogPid = (JSON.parse(readFileSync(pending, 'utf8')) as { watchdogPid: number }).watchdogPid;
  process.kill(applier.pid, 'SIGKILL');
  await applier.done;
  assert.match(await rulesText(), /table ip conegate/, 'the new rules stay in force during the grace period');
  await waitFor('the watchdog to roll back at the deadline', () => !existsSync(pending));
  assert.equal(await rulesText(), rulesetBefore, 'the previous ruleset, byte for byte (nft -t)');
  await waitFor('the watchdog to exit', () => !pidAlive(watchdogPid));
});
