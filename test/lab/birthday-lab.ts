/**
 * Birthday attempts between two lab sites, for the lab test and `npm run bench birthday`: site `h`
 * behind the lab's symmetric NAT (nft `snat ... random`: a random external port per destination, like
 * FreeBSD PF's default NAT), site `e` behind a port-restricted (EIM + APDF) NAT or a full cone. One
 * long-lived driver per side (birthday-driver.ts) on its host's mesh port; per attempt both routers'
 * conntrack tables are flushed, the easy side learns its public endpoint from a reflector on s1, both
 * drivers start at once, and the hard NAT's table is read back (entries created, external ports used).
 */
import { ConegateError } from '../../agent/src/errors.ts';
import type { BirthdayReport } from '../../agent/src/paths/birthday-exec.ts';
import type { BirthdayParams } from '../../agent/src/paths/birthday-plan.ts';
import { createLab, type Lab } from './lab.ts';
import { REFLECTOR_PORTS, startReflector } from './measure.ts';
import type { LabProcess } from './proc.ts';
import type { NatPresetName, NatSpec } from './spec.ts';

export const DRIVER = new URL('./birthday-driver.ts', import.meta.url).pathname;
const MESH_PORT = 41641;

export interface AttemptRecord {
  attempt: number;
  ok: boolean;
  hard: BirthdayReport;
  easy: BirthdayReport;
  /** Both sides have a pong: the later of the two first pongs (ms from each side's start). */
  msToBoth?: number;
  /** conntrack entries in each NAT after the attempt (tables flushed before it). */
  conntrack: { hardNat: number; easyNat: number };
  /** External ports the hard NAT chose for the hard side's flows towards the easy endpoint. */
  hardNatPorts: number[];
}

export interface BirthdayLab {
  lab: Lab;
  hard: LabProcess;
  easy: LabProcess;
  /** With `keep`, the sockets stay open after the attempt (the winner for a tunnel) until release(). */
  attempt(k: number, budget?: Partial<Pick<BirthdayParams, 'sockets' | 'probes' | 'ratePerSec' | 'deadlineMs'>>, opts?: { keep?: boolean }): Promise<AttemptRecord>;
  release(): Promise<void>;
  setEasyNat(nat: NatPresetName | NatSpec): Promise<void>;
  stop(): Promise<void>;
}

let nextId = 1;

/** Sends one command to a driver and waits for the line answering it. */
export async function ask(p: LabProcess, cmd: object, timeoutMs: number): Promise<Record<string, unknown>> {
  const id = nextId++;
  p.write(JSON.stringify({ id, ...cmd }) + '\n');
  const m = await p.waitForOutput(new RegExp(`^\\{"id":${id},.*$`, 'm'), timeoutMs, 'stdout');
  return JSON.parse(m[0]) as Record<string, unknown>;
}

function report(line: Record<string, unknown>, side: string): BirthdayReport {
  if (line.event !== 'report') throw new ConegateError('CG_COMMAND_FAILED', `birthday lab: ${side} driver answered ${JSON.stringify(line)}`);
  return line.report as BirthdayReport;
}

/** The reply-direction destination port of each UDP conntrack entry towards `to` (the NAT's external port). */
export function externalPorts(conntrackList: string, toAddress: string, toPort: number): number[] {
  const ports: number[] = [];
  for (const line of conntrackList.split('\n')) {
    if (!line.startsWith('udp') || !line.includes(`dst=${toAddress} `) || !line.includes(`dport=${toPort} `)) continue;
    const dports = [...line.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
    if (dports.length === 2) ports.push(dports[1]!);
  }
  return ports;
}

export async function startBirthdayLab(opts: { easyNat?: NatPresetName } = {}): Promise<BirthdayLab> {
  const lab = await createLab({ sites: [{ name: 'h', nat: 'symmetric' }, { name: 'e', nat: opts.easyNat ?? 'port-restricted' }], servers: ['s1'] });
  const procs: LabProcess[] = [];
  try {
    procs.push(await startReflector(lab, 's1'));
    const spawn = async (host: string) => {
      const p = lab.spawnNode(host, DRIVER, ['--bind', lab.addr(host), '--port', String(MESH_PORT)], { description: `birthday driver ${host}` });
      procs.push(p);
      await p.waitForOutput(/"event":"ready"/, 60_000, 'stdout');
      return p;
    };
    const [hard, easy] = await Promise.all([spawn('h.h1'), spawn('e.h1')]);
    const reflector = `${lab.addr('s1')}:${REFLECTOR_PORTS[0]}`;
    const flush = () => Promise.all(['h.router', 'e.router'].map((r) => lab.exec(r, ['conntrack', '-F'], { check: true })));
    const count = async (r: string) => Number((await lab.exec(r, ['conntrack', '-C'], { check: true })).stdout.trim());

    const release = async () => {
      await Promise.all([ask(hard, { cmd: 'release' }, 10_000), ask(easy, { cmd: 'release' }, 10_000)]);
    };
    const attempt: BirthdayLab['attempt'] = async (k, budget = {}, opts = {}) => {
      await flush();
      const stun = await ask(easy, { cmd: 'stun', to: reflector }, 10_000);
      if (typeof stun.seen !== 'string') throw new ConegateError('CG_NETWORK', `birthday lab: the easy side got no answer from the reflector ${reflector}`);
      const [address, port] = [stun.seen.slice(0, stun.seen.lastIndexOf(':')), Number(stun.seen.slice(stun.seen.lastIndexOf(':') + 1))];
      const common = { cmd: 'attempt', attempt: k, hardAddress: lab.publicAddr('h.h1'), easy: { address, port }, sockets: 256, probes: 1024, ratePerSec: 200, deadlineMs: 10_000, ...budget };
      const wait = common.deadlineMs + 15_000;
      const [h, e] = await Promise.all([
        ask(hard, { ...common, role: 'hard', selfHard: true, peerHard: false }, wait),
        ask(easy, { ...common, role: 'easy', selfHard: false, peerHard: true }, wait),
      ]);
      const hardR = report(h, 'hard');
      const easyR = report(e, 'easy');
      const conntrack = { hardNat: await count('h.router'), easyNat: await count('e.router') };
      const list = await lab.exec('h.router', ['conntrack', '-L', '-p', 'udp'], { check: true });
      if (!opts.keep) await release();
      const ok = hardR.ok && easyR.ok;
      return { attempt: k, ok, hard: hardR, easy: easyR, ...(ok ? { msToBoth: Math.max(hardR.firstPongMs!, easyR.firstPongMs!) } : {}), conntrack, hardNatPorts: externalPorts(list.stdout, address, port) };
    };
    return {
      lab, hard, easy, attempt, release,
      setEasyNat: (nat) => lab.setNat('e.router', nat),
      async stop() {
        for (const p of [hard, easy]) p.write(JSON.stringify({ cmd: 'exit' }) + '\n');
        await Promise.all(procs.map((p) => p.stop()));
        await lab.destroy();
      },
    };
  } catch (e) {
    await Promise.all(procs.map((p) => p.stop()));
    await lab.destroy();
    throw e;
  }
}

/** Median of a list (undefined when empty). */
export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
