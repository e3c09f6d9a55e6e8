// The birthday attempt as the mesh runs it, on real kernel NATs: the discovery engine decides (easy side,
// after the hard side's call-me-maybe through the relay), paces the probes and picks the path; the opener
// opens the hard side's 256 sockets; sealed discovery messages on the wire; a TCP hub on the lab internet
// stands in for the relay. h.h1 behind the symmetric NAT, e.h1 behind the port-restricted one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, keyToHex, publicKey } from '../../agent/src/wg/keys.ts';
import { median, startBirthdayLab, type BirthdayLab } from './birthday-lab.ts';
import { REFLECTOR_PORTS } from './measure.ts';
import type { LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';

const DRIVER = new URL('./birthday-engine-driver.ts', import.meta.url).pathname;
const PORT = 41700;
const HUB_PORT = 8100;
const ATTEMPTS = 5;

interface Direct {
  event: 'direct';
  ms: number;
  via: string;
  socket: number;
  localPort: number;
}

async function line(p: LabProcess, re: RegExp, timeoutMs: number): Promise<Record<string, unknown>> {
  return JSON.parse((await p.waitForOutput(re, timeoutMs, 'stdout'))[0]) as Record<string, unknown>;
}

describe('birthday attempts run by the discovery engine on real kernel NATs', () => {
  let bl: BirthdayLab;
  let hub: LabProcess;
  before(async () => {
    requirePeers({ nft: 'nftables', ip: 'iproute2', conntrack: 'conntrack' });
    bl = await startBirthdayLab();
    hub = bl.lab.spawnNode('s1', DRIVER, ['hub', '--bind', `${bl.lab.addr('s1')}:${HUB_PORT}`], { description: 'relay hub' });
    await hub.waitForOutput(/"event":"ready"/, 60_000, 'stdout');
  });
  after(async () => {
    await hub?.stop();
    await bl?.stop();
  });

  async function attempt(k: number): Promise<{ h: Direct; e: Direct; hStatus: Record<string, unknown>; eStatus: Record<string, unknown> } | { failed: string }> {
    const { lab } = bl;
    await Promise.all(['h.router', 'e.router'].map((r) => lab.exec(r, ['conntrack', '-F'], { check: true })));
    const disco = [generatePrivateKey(), generatePrivateKey()];
    const nodeKeys = [keyToHex(publicKey(generatePrivateKey())), keyToHex(publicKey(generatePrivateKey()))];
    const keys = (self: 0 | 1) => JSON.stringify({ node: nodeKeys[self], discoPriv: keyToHex(disco[self]!), peerNode: nodeKeys[1 - self], peerDisco: keyToHex(publicKey(disco[1 - self]!)) });
    const spawn = (host: string, self: 0 | 1) =>
      lab.spawnNode(host, DRIVER, ['node', '--bind', lab.addr(host), '--port', String(PORT), '--hub', `${lab.addr('s1')}:${HUB_PORT}`, '--keys', keys(self)], { description: `engine node ${host} #${k}` });
    const h = spawn('h.h1', 0);
    const e = spawn('e.h1', 1);
    try {
      await Promise.all([h, e].map((p) => p.waitForOutput(/"event":"ready"/, 60_000, 'stdout')));
      const reflector = `${lab.addr('s1')}:${REFLECTOR_PORTS[0]}`;
      const stun = async (p: LabProcess) => {
        p.write(JSON.stringify({ cmd: 'stun', to: reflector }) + '\n');
        return (await line(p, /^\{"event":"stun".*$/m, 10_000)).seen as string;
      };
      const [hSeen, eSeen] = [await stun(h), await stun(e)];
      // What each side would advertise through the coordinator: its STUN result; the hard side's says
      // only which address to probe (its port belongs to the reflector's flow).
      const send = (p: LabProcess, o: object) => p.write(JSON.stringify(o) + '\n');
      send(h, { cmd: 'self', endpoints: [hSeen], hard: true });
      send(e, { cmd: 'self', endpoints: [eSeen], hard: false });
      send(h, { cmd: 'peer', endpoints: [eSeen] });
      send(e, { cmd: 'peer', endpoints: [hSeen] });
      send(h, { cmd: 'traffic' });
      let hd: Direct;
      let ed: Direct;
      try {
        [hd, ed] = (await Promise.all([line(h, /^\{"event":"direct".*$/m, 20_000), line(e, /^\{"event":"direct".*$/m, 20_000)])) as unknown as [Direct, Direct];
      } catch (err) {
        send(h, { cmd: 'status' });
        send(e, { cmd: 'status' });
        const st = await Promise.all([h, e].map((p) => line(p, /^\{"event":"status".*$/m, 5000).catch(() => ({}))));
        return { failed: `${(err as Error).message.slice(0, 300)} status: ${JSON.stringify(st)}` };
      }
      send(h, { cmd: 'status' });
      send(e, { cmd: 'status' });
      const [hStatus, eStatus] = await Promise.all([h, e].map((p) => line(p, /^\{"event":"status".*$/m, 5000)));
      return { h: hd!, e: ed!, hStatus: hStatus!, eStatus: eStatus! };
    } finally {
      await Promise.all([h.stop(), e.stop()]);
    }
  }

  it(`the engine's attempt goes direct over an extra socket of the hard side (${ATTEMPTS} attempts, fresh engines each)`, async (t) => {
    const results = [];
    for (let k = 1; k <= ATTEMPTS; k++) results.push(await attempt(k));
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
