/**
 * The netcheck edge: opens the sockets, walks the probe plan (phase 1, then phase 2 planned from
 * phase 1's answers) with the STUN client, runs the port-mapping probe alongside, and returns the
 * observations for the pure classifier. Every wait is bounded by timeoutMs on the injected clock.
 */
import type { Clock } from '../clock/clock.ts';
import { ConegateError, DecodeError } from '../errors.ts';
import { parseHostPort } from '../net/ip.ts';
import { familyOf, type UdpBind, type UdpEndpoint } from '../stun/bind.ts';
import { retransmitPlan, StunClient, type BindingOutcome, type RetransmitOptions } from '../stun/client.ts';
import { bindingRequest, decodeStun, isStun } from '../stun/codec.ts';
import { planFollowUp, planInitial, type Family, type FollowUpInput, type Probe, type ResolvedServer } from './plan.ts';
import type { PortmapProbe, PortmapProbeResult } from './portmap-probe.ts';
import type { FamilySockets, Observations, ProbeOutcome, ProbeResult } from './types.ts';

export interface NetcheckOptions {
  /** STUN servers as host:port. */
  servers: string[];
  /** Per-probe budget; a full run takes at most about twice this. */
  timeoutMs: number;
}

export interface NetcheckDeps {
  clock: Clock;
  randomBytes: (n: number) => Uint8Array;
  /** A fresh socket on the wildcard address of the family, any port. */
  openBind: (family: Family) => Promise<UdpBind>;
  resolve: (host: string, port: number) => Promise<UdpEndpoint[]>;
  portmap: PortmapProbe;
  localAddresses: () => string[];
}

/** Parses and resolves the server list; a malformed entry is a usage error, an unresolvable one is reported. */
export async function resolveServers(labels: string[], resolve: NetcheckDeps['resolve']): Promise<{ servers: ResolvedServer[]; unresolved: { label: string; error: string }[] }> {
  const servers: ResolvedServer[] = [];
  const unresolved: { label: string; error: string }[] = [];
  for (const label of labels) {
    const hp = parseHostPort(label);
    if (!hp) throw new ConegateError('CG_USAGE', `STUN server must be HOST:PORT or [IPv6]:PORT, not "${label}"`);
    try {
      for (const e of await resolve(hp.host, hp.port)) {
        const family = familyOf(e.address);
        if (family && !servers.some((s) => s.endpoint.address === e.address && s.endpoint.port === e.port)) servers.push({ label, endpoint: e, family });
      }
    } catch (e) {
      unresolved.push({ label, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return { servers, unresolved };
}

function reduce(o: BindingOutcome): ProbeOutcome {
  if (o.ok) return { ok: true, mapped: o.mapped, from: o.from, rttMs: o.rttMs, ...(o.otherAddress ? { otherAddress: o.otherAddress } : {}) };
  return { ok: false, reason: o.reason, ...(o.reason === 'error-response' ? { errorCode: o.error.code } : {}) };
}

/** RFC 5780 section 4.5: does a request sent to our own public endpoint come back to us? */
function hairpin(bind: UdpBind, clock: Clock, tid: Uint8Array, target: UdpEndpoint, rt: RetransmitOptions): Promise<ProbeOutcome> {
  const request = bindingRequest(tid);
  return new Promise((resolve) => {
    const cancels: (() => void)[] = [];
    const finish = (o: ProbeOutcome): void => {
      for (const c of cancels) c();
      resolve(o);
    };
    cancels.push(
      bind.onMessage((bytes) => {
        if (!isStun(bytes)) return;
        try {
          const m = decodeStun(bytes);
          if (m.kind === 'request' && Buffer.from(m.transactionId).equals(Buffer.from(tid))) finish({ ok: true });
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
    );
    for (const step of retransmitPlan(rt)) {
      cancels.push(
        clock.setTimer(step.atMs, () => {
          if (step.action === 'give-up') finish({ ok: false, reason: 'timeout' });
          else bind.send(request, target.address, target.port).catch(() => finish({ ok: false, reason: 'send-failed' }));
        }),
      );
    }
  });
}

/** Runs every probe and the port-mapping probe; returns what was seen. Closes every socket it opened. */
export async function observe(opts: NetcheckOptions, deps: NetcheckDeps): Promise<Observations> {
  const { servers, unresolved } = await resolveServers(opts.servers, deps.resolve);
  const families = ([4, 6] as Family[]).filter((f) => servers.some((s) => s.family === f));
  const binds: UdpBind[] = [];
  const clients: StunClient[] = [];
  const sockets: FamilySockets[] = [];
  const mappingClients = new Map<Family, { bind: UdpBind; client: StunClient }>();
  const newClient = (bind: UdpBind): StunClient => {
    const c = new StunClient({ bind, clock: deps.clock, randomBytes: deps.randomBytes, software: 'conegate netcheck' });
    clients.push(c);
    return c;
  };

  const portmapDone = probePortmap(deps, opts.timeoutMs * 2);
  try {
    for (const f of families) {
      try {
        const bind = await deps.openBind(f);
        binds.push(bind);
        mappingClients.set(f, { bind, client: newClient(bind) });
        sockets.push({ family: f, bound: true, localPort: bind.local.port });
      } catch (e) {
        sockets.push({ family: f, bound: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
    const run = (p: Probe, client: StunClient): Promise<ProbeResult> =>
      client
        .binding(p.target, { retransmit: p.retransmit, ...(p.changeIp ? { changeIp: true } : {}), ...(p.changePort ? { changePort: true } : {}), ...(p.expectFrom ? { expectFrom: p.expectFrom } : {}) })
        .then((o) => ({ probe: p, outcome: reduce(o) }));

    const phase1 = planInitial(servers, [...mappingClients.keys()], opts.timeoutMs);
    const results = await Promise.all(phase1.map((p) => run(p, mappingClients.get(p.family)!.client)));

    const phase2: Promise<ProbeResult>[] = [];
    for (const [family, m] of mappingClients) {
      const input = followUpInput(family, results);
      const probes = planFollowUp(input, opts.timeoutMs);
      let filtering: StunClient | undefined;
      if (probes.some((p) => p.socket === 'filtering')) {
        const fb = await deps.openBind(family);
        binds.push(fb);
        filtering = newClient(fb);
      }
      for (const p of probes) {
        if (p.kind === 'hairpin') phase2.push(hairpin(m.bind, deps.clock, deps.randomBytes(12), p.target, p.retransmit).then((outcome) => ({ probe: p, outcome })));
        else phase2.push(run(p, p.socket === 'filtering' ? filtering! : m.client));
      }
    }
    results.push(...(await Promise.all(phase2)));
    return { servers, unresolved, sockets, results, localAddresses: deps.localAddresses(), portmap: await portmapDone };
  } finally {
    for (const c of clients) c.close();
    await Promise.all(binds.map((b) => b.close()));
  }
}

/** Phase 2 input: the first answer with OTHER-ADDRESS, and our public endpoint, for one family. */
export function followUpInput(family: Family, results: ProbeResult[]): FollowUpInput {
  const ok = results.filter((r) => r.probe.family === family && r.probe.kind === 'binding' && r.outcome.ok);
  const input: FollowUpInput = { family };
  const first = ok[0];
  if (first?.outcome.ok && first.outcome.mapped) input.mapped = { address: first.outcome.mapped.address, port: first.outcome.mapped.port };
  for (const r of ok) {
    const o = r.outcome.ok ? r.outcome.otherAddress : undefined;
    if (o && familyOf(o.address) === family) {
      input.rfc5780 = { server: r.probe.server, primary: r.probe.target, other: { address: o.address, port: o.port } };
      break;
    }
  }
  return input;
}

async function probePortmap(deps: NetcheckDeps, budgetMs: number): Promise<PortmapProbeResult> {
  const ac = new AbortController();
  let cancel = (): void => undefined;
  const timedOut = new Promise<PortmapProbeResult>((resolve) => {
    cancel = deps.clock.setTimer(budgetMs, () => {
      ac.abort();
      resolve({ upnp: null, natpmp: null, pcp: null, note: 'port-mapping probe timed out' });
    });
  });
  try {
    return await Promise.race([
      deps.portmap.probe(ac.signal).catch((e: unknown) => ({ upnp: null, natpmp: null, pcp: null, note: `port-mapping probe failed: ${e instanceof Error ? e.message : String(e)}` })),
      timedOut,
    ]);
  } finally {
    cancel();
  }
}
