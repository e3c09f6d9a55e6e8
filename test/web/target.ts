/**
 * What the browser test drives: a page URL plus the few agent-side steps each scenario needs. The default
 * target is the fake agent (test/web/fake-agent.ts); to run the same test against a real agent (the lab's
 * `conegate up` with its web server), set CONEGATE_WEB_TARGET to a module whose `createTarget()` returns
 * a PageTarget whose steps act on the lab (lift the block between two sites, run natpmpc on a LAN host...).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PageFinding } from '../../agent/src/web/model.ts';
import { startFakeAgent, type FakeAgentOptions } from './fake-agent.ts';
import { XSS_NAME } from './sample-model.ts';

export interface TargetMapping {
  client: string;
  protocol: 'udp' | 'tcp';
  internalPort: number;
  externalPort: number;
}

export interface PageTarget {
  /** The page, e.g. http://127.0.0.1:8380/. */
  url: string;
  /** What the sign-in form takes (`conegate web token`); null when the page opens signed in. */
  token: string | null;
  /** The browser to launch when it must run elsewhere (the lab's: inside the router's namespace). */
  browserExecutable?: string;
  /** A peer on a relay now: its id (data-peer) and name. */
  relayedPeer: { id: string; name: string };
  /** Makes that peer's direct path work; resolves once the change is made (a fake) or once the agent
   * itself reports the direct path (the lab), so the page's own delay is what the test bounds. */
  makeDirect(): Promise<void>;
  /** Has a LAN client ask our NAT-PMP server for a mapping; resolves with it once the agent holds it. */
  requestMapping(): Promise<TargetMapping>;
  /** The agent's own view of its mappings, to check that one delete left the others and the epoch alone. */
  mappings(): Promise<{ epochSec: number; ids: string[] }>;
  /** An IPS finding the agent reports now. */
  finding: Pick<PageFinding, 'title' | 'fix' | 'where'>;
  /** The name of a peer named like markup. */
  markupPeerName: string;
  /** A settings change the config schema refuses, and the field the refusal must name. */
  invalidEdit(config: Record<string, any>): Record<string, any>;
  invalidField: string;
  /** A settings change the agent accepts. */
  validEdit(config: Record<string, any>): Record<string, any>;
  close(): Promise<void>;
}

export async function fakeTarget(opts: FakeAgentOptions = {}): Promise<PageTarget> {
  const token = opts.token ?? 'test-token-0123456789';
  const agent = await startFakeAgent({ ...opts, token });
  const finding = agent.model.ips[0]!;
  return {
    url: `${agent.url}/`,
    token,
    relayedPeer: { id: 'n-branch', name: 'branch-office' },
    async makeDirect() {
      agent.update((m) => {
        const p = m.peers.find((x) => x.id === 'n-branch')!;
        Object.assign(p, { path: 'direct', endpoint: '198.51.100.20:41641', relay: null, reason: null, forSec: 0, rttMs: 8.4 });
        p.events.push({ at: new Date().toISOString(), text: 'path: direct 198.51.100.20:41641 (from TCP relay lab, via birthday, 4.2 s)' });
      });
    },
    async requestMapping() {
      const m = { client: '192.168.1.31', protocol: 'udp' as const, internalPort: 41641, externalPort: 61022 };
      agent.addMapping({ ...m, lifetimeSec: 7200, via: 'nat-pmp' });
      return m;
    },
    async mappings() {
      return { epochSec: agent.model.mappings!.epochSec, ids: agent.model.mappings!.items.map((i) => i.id) };
    },
    finding,
    markupPeerName: XSS_NAME,
    invalidEdit: (c) => ({ ...c, wg: { ...c.wg, listenPort: 70000 } }),
    invalidField: 'wg.listenPort',
    validEdit: (c) => ({ ...c, log: { ...c.log, level: 'debug' } }),
    close: () => agent.close(),
  };
}

/** The fake agent, or the module named by CONEGATE_WEB_TARGET. */
export async function loadTarget(): Promise<PageTarget> {
  const module = process.env.CONEGATE_WEB_TARGET;
  if (!module) return fakeTarget();
  const m = (await import(pathToFileURL(resolve(module)).href)) as { createTarget?: () => Promise<PageTarget> };
  if (typeof m.createTarget !== 'function') throw new Error(`CONEGATE_WEB_TARGET=${module}: the module exports no createTarget()`);
  return m.createTarget();
}
