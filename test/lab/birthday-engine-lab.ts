/**
 * Engine-level birthday attempts in the lab (birthday-engine.test.ts and `npm run bench birthday`): a
 * relay hub on s1 and, per attempt, two fresh discovery nodes (birthday-engine-driver.ts) on h.h1 (hard)
 * and e.h1 (easy), fresh keys, both NATs' conntrack tables flushed first. The hard side starts (first
 * traffic); the result is when each side's engine first routes the peer directly, and its status.
 */
import { generatePrivateKey, keyToHex, publicKey } from '../../agent/src/wg/keys.ts';
import type { BirthdayLab } from './birthday-lab.ts';
import { REFLECTOR_PORTS } from './measure.ts';
import type { LabProcess } from './proc.ts';

export const ENGINE_DRIVER = new URL('./birthday-engine-driver.ts', import.meta.url).pathname;
const PORT = 41700;
const HUB_PORT = 8100;

export interface Direct {
  event: 'direct';
  /** ms from the hard side's first traffic (hard) or from the first discovery message (easy). */
  ms: number;
  via: string;
  socket: number;
  localPort: number;
}

export type EngineAttempt = { h: Direct; e: Direct; hStatus: Record<string, unknown>; eStatus: Record<string, unknown> } | { failed: string };

async function line(p: LabProcess, re: RegExp, timeoutMs: number): Promise<Record<string, unknown>> {
  return JSON.parse((await p.waitForOutput(re, timeoutMs, 'stdout'))[0]) as Record<string, unknown>;
}

/** Starts the relay hub on s1; stop it with the returned process. */
export async function startHub(bl: BirthdayLab): Promise<LabProcess> {
  const hub = bl.lab.spawnNode('s1', ENGINE_DRIVER, ['hub', '--bind', `${bl.lab.addr('s1')}:${HUB_PORT}`], { description: 'relay hub' });
  await hub.waitForOutput(/"event":"ready"/, 60_000, 'stdout');
  return hub;
}

export async function engineAttempt(bl: BirthdayLab, k: number): Promise<EngineAttempt> {
  const { lab } = bl;
  await Promise.all(['h.router', 'e.router'].map((r) => lab.exec(r, ['conntrack', '-F'], { check: true })));
  const disco = [generatePrivateKey(), generatePrivateKey()];
  const nodeKeys = [keyToHex(publicKey(generatePrivateKey())), keyToHex(publicKey(generatePrivateKey()))];
  const keys = (self: 0 | 1) => JSON.stringify({ node: nodeKeys[self], discoPriv: keyToHex(disco[self]!), peerNode: nodeKeys[1 - self], peerDisco: keyToHex(publicKey(disco[1 - self]!)) });
  const spawn = (host: string, self: 0 | 1) =>
    lab.spawnNode(host, ENGINE_DRIVER, ['node', '--bind', lab.addr(host), '--port', String(PORT), '--hub', `${lab.addr('s1')}:${HUB_PORT}`, '--keys', keys(self)], { description: `engine node ${host} #${k}` });
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
