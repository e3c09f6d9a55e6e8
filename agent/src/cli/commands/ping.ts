/**
 * `conegate ping PEER`: discovery pings through the running agent on the path the peer's packets take now,
 * one line per pong naming that path (direct ip:port, UDP relay node, TCP relay region) and the RTT, then
 * the peer's path with why it is relayed and why on the UDP or the TCP relay. Exit 1 when no pong came.
 */
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { pathLine } from '../../paths/view.ts';
import { controlRequest } from '../../service/control-client.ts';
import type { PeerPing } from '../../service/mesh-node.ts';
import { controlSocketOf } from '../../service/paths.ts';
import { globalOptions, integerArg, printResult, resolveConfig } from '../context.ts';
import { applyUpFlags } from './up.ts';

export function pongLine(r: PeerPing): string {
  const who = `${r.peer}${r.address ? ` (${r.address})` : ''}`;
  if (!r.pong) return `no pong from ${who}`;
  const p = r.pong;
  const via = p.kind === 'direct' ? `direct ${p.endpoint}` : p.kind === 'udp-relay' ? `UDP relay node ${p.node ?? '?'} ${p.endpoint}` : `TCP relay region ${p.region}`;
  return `pong from ${who} via ${via} in ${Math.round(p.rttMs)} ms`;
}

export function pingCommand(): Command {
  return new Command('ping')
    .description('ping a mesh peer through the running agent and say which path answered (direct, UDP relay, TCP relay)')
    .argument('<peer>', 'peer name, mesh address or node key')
    .option('-c, --count <n>', 'pings to send, one a second', integerArg(1, 100), 3)
    .option('--timeout-ms <ms>', 'wait this long for each pong', integerArg(100, 10_000), 2000)
    .option('--config <file>', 'config file (default: CONEGATE_CONFIG, then the platform default)')
    .option('--state-dir <dir>', 'state dir of the agent to talk to (mesh.stateDir)')
    .option('--json', 'machine-readable output')
    .action(async (peer: string, f: { count: number; timeoutMs: number; json?: boolean; stateDir?: string }, c: Command) => {
      const config = applyUpFlags((await resolveConfig(globalOptions(c))).config, { ...(f.stateDir ? { stateDir: f.stateDir } : {}) });
      const results: PeerPing[] = [];
      for (let i = 0; i < f.count; i++) {
        const startMs = Date.now();
        const r = (await controlRequest(controlSocketOf(config), 'ping-peer', f.timeoutMs + 5000, { peer, timeoutMs: f.timeoutMs })) as PeerPing;
        results.push(r);
        if (!f.json) process.stdout.write(`${pongLine(r)}\n`);
        if (i + 1 < f.count) await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (Date.now() - startMs))));
      }
      const last = results.at(-1)!;
      printResult(f.json === true, results, () => `${pathLine(last.path ?? undefined)}${last.relay?.kind === 'udp' ? `\nvia UDP relay node ${last.relay.node ?? '?'} ${last.relay.address}` : last.relay?.kind === 'tcp' ? `\nvia TCP relay region ${last.relay.region}${last.relay.server ? ` server ${last.relay.server}` : ''}` : ''}`);
      if (results.every((r) => !r.pong)) throw new ConegateError('CG_TIMEOUT', `no pong from ${last.peer} in ${f.count} tries`);
    });
}
