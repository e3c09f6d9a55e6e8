// The birthday attempt as the mesh runs it, on real kernel NATs: the discovery engine decides (easy side,
// after the hard side's call-me-maybe through the relay), paces the probes and picks the path; the opener
// opens the hard side's 256 sockets; sealed discovery messages on the wire; a TCP hub on the lab internet
// stands in for the relay. h.h1 behind the symmetric NAT, e.h1 behind the port-restricted one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { median, startBirthdayLab, type BirthdayLab } from './birthday-lab.ts';
import { engineAttempt, startHub } from './birthday-engine-lab.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';

const ATTEMPTS = 5;

describe('birthday attempts run by the discovery engine on real kernel NATs', () => {
  let bl: BirthdayLab;
  let hub: LabProcess;
  before(async () => {
    requirePeers({ nft: 'nftables', ip: 'iproute2', conntrack: 'conntrack' });
    bl = await startBirthdayLab();
    hub = await startHub(bl);
  });
  after(async () => {
    await hub?.stop();
    await bl?.stop();
  });

  it(`the engine's attempt goes direct over an extra socket of the hard side (${ATTEMPTS} attempts, fresh engines each)`, async (t) => {
    const results = [];
    for (let k = 1; k <= ATTEMPTS; k++) results.push(await engineAttempt(bl, k));
    const ok = results.filter((r): r is Exclude<typeof r, { failed: string }> => !('failed' in r));
    for (const r of results) if ('failed' in r) t.diagnostic(`failed: ${r.failed}`);
    for (const r of ok) {
      // The hard side's path is an extra socket (not the mesh socket), towards the easy endpoint.
      assert.notEqual(r.h.socket, 0, JSON.stringify(r.h));
      assert.equal(r.e.socket, 0);
      // Each side's path is the other's view of the same pair: the easy side sends to the hard NAT's
      // mapping of the winning socket; the birthday report says won on both sides.
      const hb = r.hStatus.birthday as { last?: { ok: boolean; sockets: number } };
      const eb = r.eStatus.birthday as { last?: { ok: boolean; probes: number } };
      assert.equal(hb?.last?.ok, true, JSON.stringify(r.hStatus));
      assert.equal(eb?.last?.ok, true, JSON.stringify(r.eStatus));
      assert.equal(hb.last!.sockets, 256);
      assert.ok(eb.last!.probes <= 1024);
      // Losers closed: only the winner stays open on the hard side.
      assert.equal(r.hStatus.extraOpen, 1);
    }
    const summary = { attempts: results.length, direct: ok.length, medianMsToDirect: { hard: median(ok.map((r) => r.h.ms)), easy: median(ok.map((r) => r.e.ms)) }, easyProbes: ok.map((r) => (r.eStatus.birthday as { last: { probes: number } }).last.probes) };
    t.diagnostic(JSON.stringify(summary));
    // 98% per attempt: 5 of 5 most runs; 4 of 5 allowed (3 or fewer: about 1 run in 2,500).
    assert.ok(ok.length >= ATTEMPTS - 1, JSON.stringify(summary));
  });
});
