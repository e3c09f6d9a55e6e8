// Hard NAT by the birthday paradox against real kernel NATs (issue 18), at the socket level: h.h1 behind
// the lab's symmetric NAT (a random external port per destination), e.h1 behind a port-restricted
// endpoint-independent NAT, then a full cone. The executor (agent/src/paths/birthday-exec.ts) runs with
// the budget: 256 sockets, 1,024 probes, 200/s, 10 s. Figures go to the test's diagnostics;
// `npm run bench birthday` runs more attempts and compares them with the formula.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { birthdaySuccessProbability } from '../../agent/src/paths/birthday-plan.ts';
import { generatePrivateKey, keyToHex, publicKey } from '../../agent/src/wg/keys.ts';
import { formatEndpoint } from '../../agent/src/wg/ports.ts';
import { MESH_SOCKET } from '../../agent/src/paths/types.ts';
import { DRIVER, ask, median, startBirthdayLab, type AttemptRecord, type BirthdayLab } from './birthday-lab.ts';
import { requirePeers } from './require-peers.ts';

const ATTEMPTS = 10;

describe('birthday attempts on real kernel NATs', () => {
  let bl: BirthdayLab;
  before(async () => {
    requirePeers({ nft: 'nftables', ip: 'iproute2', conntrack: 'conntrack' });
    bl = await startBirthdayLab();
  });
  after(async () => {
    await bl?.stop();
  });

  it('both sides hard: the driver refuses, exits 1 and sends nothing (the NAT table stays empty)', async (t) => {
    await bl.lab.exec('h.router', ['conntrack', '-F'], { check: true });
    const params = { role: 'hard', attempt: 99, hardAddress: bl.lab.publicAddr('h.h1'), easy: { address: bl.lab.publicAddr('e.h1'), port: 41641 }, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000, selfHard: true, peerHard: true };
    const r = await bl.lab.execNode('h.h1', DRIVER, ['--bind', bl.lab.addr('h.h1'), '--port', '0', '--attempt', JSON.stringify(params)]);
    t.diagnostic(r.stderr.trim());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /CG_BIRTHDAY_REFUSED.*both NATs map per destination/);
    const line = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; sent: number; extraOpen: number };
    assert.deepEqual(line, { event: 'refused', code: 'CG_BIRTHDAY_REFUSED', sent: 0, extraOpen: 0 });
    // Only flows from h.h1 count: the router's table may hold an unrelated entry (its own traffic).
    const flows = (await bl.lab.exec('h.router', ['conntrack', '-L', '-p', 'udp', '--orig-src', bl.lab.addr('h.h1')], { check: true })).stdout.trim();
    assert.equal(flows, '', `h.h1 opened flows through its NAT: ${flows}`);
  });

  it(`hard vs port-restricted: ${ATTEMPTS} attempts at 256 sockets x 1,024 probes, at least 8 go through; the hard NAT really randomizes`, async (t) => {
    const runs: AttemptRecord[] = [];
    for (let k = 1; k <= ATTEMPTS; k++) runs.push(await bl.attempt(k));
    const ok = runs.filter((r) => r.ok);
    for (const r of runs) {
      // Budget kept, by the drivers' counts: 256 sockets, each pinging twice at most, <= 1,024 probes.
      assert.ok(r.hard.sockets <= 256 && r.hard.probes <= 2 * 256 + r.hard.pingBacks && r.easy.probes <= 1024 + r.easy.pingBacks, JSON.stringify(r));
      // The NAT under test maps per destination with random ports: one entry and one distinct external
      // port per hard socket, spread over the port space (a sequential NAT would make the search trivial).
      const ports = r.hardNatPorts;
      assert.equal(ports.length, r.hard.sockets, `conntrack entries towards the easy endpoint in attempt ${r.attempt}`);
      assert.equal(new Set(ports).size, ports.length);
      const sorted = [...ports].sort((a, b) => a - b);
      assert.ok(sorted.at(-1)! - sorted[0]! > 50_000, `ports spread: ${sorted[0]}..${sorted.at(-1)}`);
      const neighbours = sorted.slice(1).filter((p, i) => p - sorted[i]! === 1).length;
      assert.ok(neighbours < 16, `${neighbours} consecutive ports`);
      // The winner is the pair both sides saw: the easy side's pong came from the hard side's winning mapping.
      if (r.ok) assert.ok(ports.includes(r.easy.winner!.remote.port));
    }
    const times = ok.map((r) => r.msToBoth!);
    const summary = {
      attempts: runs.length,
      ok: ok.length,
      theory: Math.round(birthdaySuccessProbability(256, 1024) * 1000) / 10,
      medianMsToBoth: Math.round(median(times) ?? NaN),
      maxMsToBoth: Math.round(Math.max(...times)),
      medianEasyProbes: median(ok.map((r) => r.easy.probes)),
      conntrackPerAttempt: { hardNat: median(runs.map((r) => r.conntrack.hardNat)), easyNat: median(runs.map((r) => r.conntrack.easyNat)), easyNatMax: Math.max(...runs.map((r) => r.conntrack.easyNat)) },
    };
    t.diagnostic(JSON.stringify(summary));
    // 98% per attempt in theory: 8 of 10 or fewer happens about once in 1,000 runs.
    assert.ok(ok.length >= 8, JSON.stringify(summary));
    // Session-table cost on the hard NAT: one entry per extra socket, nothing else (the easy side's
    // unmatched probes are dropped before conntrack confirms them).
    for (const r of runs) assert.equal(r.conntrack.hardNat, r.hard.sockets);
    // On the easy NAT: one per probe sent (each to a new port), plus the reflector query (read back
    // once, in 1 of 20 attempts, one less than that: the table is counted while flows settle).
    for (const r of runs) assert.ok(r.conntrack.easyNat >= r.easy.probes && r.conntrack.easyNat <= r.easy.probes + 1, JSON.stringify(r.conntrack));
  });

  it('after a win, WireGuard (our userspace device) runs over the winning extra socket through both kernel NATs, both ways', async (t) => {
    // This test is about what follows a win; one attempt misses about 1 time in 60 (98.3% in theory, the
    // rate the test above checks), so up to three are made (all three miss about once in 200,000 runs).
    let r = await bl.attempt(50, {}, { keep: true });
    for (let k = 51; k <= 52 && !r.ok; k++) {
      await bl.release();
      r = await bl.attempt(k, {}, { keep: true });
    }
    try {
      assert.ok(r.ok, JSON.stringify(r));
      const [kh, ke] = [generatePrivateKey(), generatePrivateKey()];
      const wgH = await ask(bl.hard, { cmd: 'wg', privateKey: keyToHex(kh), peerPublicKey: keyToHex(publicKey(ke)), peer: formatEndpoint(r.hard.winner!.remote), peerTun: '10.9.0.2' }, 10_000);
      const wgE = await ask(bl.easy, { cmd: 'wg', privateKey: keyToHex(ke), peerPublicKey: keyToHex(publicKey(kh)), peer: formatEndpoint(r.easy.winner!.remote), peerTun: '10.9.0.1' }, 10_000);
      assert.deepEqual([wgH.event, wgH.socket, wgE.socket], ['wg', r.hard.winner!.socket, MESH_SOCKET]);
      await ask(bl.hard, { cmd: 'wg-send', src: '10.9.0.1', dst: '10.9.0.2' }, 10_000);
      const atE = await ask(bl.easy, { cmd: 'wg-wait', n: 1 }, 20_000);
      await ask(bl.easy, { cmd: 'wg-send', src: '10.9.0.2', dst: '10.9.0.1' }, 10_000);
      const atH = await ask(bl.hard, { cmd: 'wg-wait', n: 1 }, 20_000);
      t.diagnostic(JSON.stringify({ winner: r.hard.winner, atE, atH }));
      assert.equal(atE.timedOut, false);
      assert.equal(atH.timedOut, false);
      // The easy side's device still sends to the hard NAT's winning mapping, the one its probe found.
      assert.equal((atE.peer as { endpoint: string }).endpoint, formatEndpoint(r.easy.winner!.remote));
    } finally {
      await bl.release();
    }
  });

  it('hard vs full cone: the hard side\'s first pings get through, every attempt, no probing needed', async (t) => {
    await bl.setEasyNat('full-cone');
    const runs: AttemptRecord[] = [];
    for (let k = 101; k <= 103; k++) runs.push(await bl.attempt(k));
    t.diagnostic(JSON.stringify(runs.map((r) => ({ ok: r.ok, msToBoth: Math.round(r.msToBoth ?? NaN), easyProbes: r.easy.probes, easyPingBacks: r.easy.pingBacks }))));
    for (const r of runs) {
      assert.ok(r.hard.ok, JSON.stringify(r));
      // The easy side learnt the hard side's port from its pings and pinged back, instead of guessing.
      assert.ok(r.easy.pingBacks >= 1);
      if (r.easy.winner) assert.ok(r.hardNatPorts.includes(r.easy.winner.remote.port));
    }
    // Both sides done in most attempts. Seen about 1 run in 4 under load: the first attempt after the
    // switch to full cone gets no answer to the easy side's ping-backs (the hard side received none);
    // not yet explained, so not hidden: two of three must complete on both sides.
    assert.ok(runs.filter((r) => r.ok).length >= 2, JSON.stringify(runs.map((r) => ({ ok: r.ok, hard: r.hard.ok, easy: r.easy.failure }))));
  });
});
