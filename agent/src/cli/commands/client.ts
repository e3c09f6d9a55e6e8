/**
 * `conegate status`, `down` and `logout`: one request to the running agent over its control socket.
 * Kept apart from `up` (the whole agent) and light on purpose: a monitor polls `status` while things
 * change, and what it sees lags by the command's own start-up. On a busy 2-core router, loading the
 * agent's modules and compiling the config schema took seconds (the failover lab saw the relay 2 s after
 * the agent had switched). So the socket path is read from the config file directly when the file is
 * plain; anything unusual goes through the full, validating config load for its exact error.
 */
import { access, readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { controlRequest } from '../../service/control-client.ts';
import { controlSocketFromRaw } from '../../service/control-socket.ts';
import type { MeshStatus } from '../../service/mesh-status.ts';
import { pathLine } from '../../paths/view.ts';
import { detectPlatform } from '../../platform/detect.ts';

const CONFIG_HELP = 'config file (default: CONEGATE_CONFIG, then the platform default)';

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The agent's control socket for this config: read directly, or through the validating load. */
async function controlSocket(configFlag: string | undefined, stateDir: string | undefined): Promise<string> {
  // As resolveConfig: an empty CONEGATE_CONFIG means "not set".
  const explicit = (configFlag ?? process.env.CONEGATE_CONFIG) || undefined;
  const file = explicit ?? (await detectPlatform('/')).conegateConfig;
  let raw: unknown = {};
  const exists = explicit !== undefined || (await access(file).then(() => true, () => false));
  if (exists) raw = await readFile(file, 'utf8').then(parseOrUndefined, () => undefined);
  const fast = raw === undefined ? undefined : controlSocketFromRaw(raw, stateDir);
  if (fast !== undefined) return fast;
  // Unreadable, not JSON, or a field of the wrong type: the full load names the problem (exit 2).
  const { applyUpFlags } = await import('./up.ts');
  const { resolveConfig } = await import('../context.ts');
  const { controlSocketOf } = await import('../../service/paths.ts');
  const config = applyUpFlags((await resolveConfig({ config: explicit })).config, stateDir ? { stateDir } : {});
  return controlSocketOf(config);
}

export function humanStatus(st: { mesh: MeshStatus | null; components: Record<string, unknown> }): string {
  const lines: string[] = [];
  const m = st.mesh;
  if (m) {
    lines.push(`${m.self.name ?? '(unregistered)'} ${m.self.addresses.join(' ')}  coordinator: ${m.coordinator.phase}${m.coordinator.lastError ? ` (${m.coordinator.lastError})` : ''}`);
    for (const p of m.peers) {
      const hs = p.lastHandshake ? `handshake ${p.lastHandshake}` : 'no handshake';
      lines.push(`  ${p.name.padEnd(16)} ${p.addresses.join(' ').padEnd(40)} ${p.currentEndpoint ?? '-'}  ${hs}  rx ${p.rxBytes} tx ${p.txBytes}${p.homeRelay ? `  relay ${p.homeRelay}` : ''}`);
      lines.push(`    ${pathLine(p.path ?? undefined)}`);
      if (p.relay?.kind === 'udp') lines.push(`    via UDP relay node ${p.relay.node ?? p.relay.nodeKey.slice(0, 8)} ${p.relay.address} (${p.relay.state})`);
      else if (p.relay) lines.push(`    via TCP relay region ${p.relay.region}${p.relay.server ? ` server ${p.relay.server}` : ''}`);
      const b = p.path?.birthday?.last;
      if (b) lines.push(`    birthday: ${b.ok ? `won by ${b.winner ?? '?'}` : 'no probe got through'} (${b.sockets} sockets, ${b.probes} probes, ${b.ms} ms, attempts ${p.path!.birthday!.attempts}${(b.concurrent ?? 1) > 1 ? `, sockets shared by ${b.concurrent} attempts` : ''})`);
      const run = p.path?.birthday?.running;
      if (run) lines.push(`    birthday attempt ${run.id} running (${run.role} side): ${run.sockets} sockets, ${run.probes} probes so far${run.concurrent > 1 ? `, sockets shared by ${run.concurrent} attempts` : ''}`);
      for (const e of p.path?.events.slice(-3) ?? []) lines.push(`    ${e.at}  ${e.text}`);
    }
    if (m.relay) lines.push(`  relay: home ${m.relay.home ?? '-'}; ${m.relay.regions.map((r) => `${r.id} ${r.connected ? 'connected' : 'idle'}${r.latencyMs !== undefined ? ` ${Math.round(r.latencyMs)} ms` : ''}${r.viaProxy ? ' via proxy' : ''}`).join(', ') || 'no regions'}`);
    if (m.udpRelay) lines.push(`  UDP relay for other nodes: port ${m.udpRelay.port ?? '-'}, advertised ${m.udpRelay.advertised ?? '(not yet: no STUN answer)'}; ${m.udpRelay.allocations} allocations, ${m.udpRelay.forwarded} datagrams forwarded`);
    const k = m.udpRelay?.kernel;
    if (k) lines.push(`    kernel fast path: ${k.active ? `on, ${k.pairs} pairs, ${k.packets} datagrams` : `off (${k.reason})`}${k.userspace.length ? `; in userspace: ${k.userspace.map((u) => `${u.vni.toString(16)} (${u.reason})`).join(', ')}` : ''}`);
    if (m.peers.length === 0) lines.push('  no peers');
  } else lines.push('mesh: off');
  for (const [name, s] of Object.entries(st.components)) lines.push(`${name}: ${JSON.stringify(s)}`);
  return lines.join('\n');
}

function clientCommand(name: 'status' | 'down' | 'logout', description: string): Command {
  return new Command(name)
    .description(description)
    .option('--config <file>', CONFIG_HELP)
    .option('--state-dir <dir>', 'state dir of the agent to talk to (mesh.stateDir)')
    .option('--json', 'machine-readable output')
    .action(async (f: { json?: boolean; stateDir?: string }, c: Command) => {
      const result = await controlRequest(await controlSocket(c.optsWithGlobals<{ config?: string }>().config, f.stateDir), name);
      const human = () => (name === 'status' ? humanStatus(result as Parameters<typeof humanStatus>[0]) : name === 'down' ? 'conegate is stopping' : 'logged out of the mesh');
      process.stdout.write(f.json === true ? JSON.stringify(result, null, 2) + '\n' : human().replace(/\n?$/, '\n'));
    });
}

export const statusCommand = () => clientCommand('status', 'show the running agent: mesh peers (names, addresses, keys, endpoints, handshakes, bytes) and services');
export const downCommand = () => clientCommand('down', 'stop the running agent');
export const logoutCommand = () => clientCommand('logout', 'leave the mesh: this node leaves every map and its keys are deleted');
