/**
 * The agent service and the commands that talk to it over the control socket:
 *   up       run the agent (mesh node + enabled router services); in the background unless --foreground
 *   status   every peer: name, mesh addresses, keys, endpoints, home relay, last handshake, bytes, and its
 *            path (direct endpoint or relay region, RTT, time on it, reason when relayed, birthday, events)
 *   down     stop the running agent
 *   logout   leave the mesh (the node disappears from every map; its keys are deleted)
 * Every `up` flag maps onto a key of the `mesh` section, so the service also runs from the config alone.
 */
import { pathLine } from '../../paths/view.ts';
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { realClock } from '../../clock/clock.ts';
import { validateConfig, type Config } from '../../config/load.ts';
import { ConegateError } from '../../errors.ts';
import { detectPlatform } from '../../platform/detect.ts';
import { Agent } from '../../service/agent.ts';
import { controlRequest } from '../../service/control-client.ts';
import type { MeshStatus } from '../../service/mesh-status.ts';
import { controlSocketOf, stateDirOf } from '../../service/paths.ts';
import { globalOptions, loggerFor, printResult, resolveConfig, type GlobalOptions } from '../context.ts';

export interface UpFlags {
  coordinator?: string;
  authKey?: string;
  authKeyStdin?: boolean;
  hostname?: string;
  advertiseRoutes?: string;
  acceptRoutes?: boolean;
  stateDir?: string;
  ca?: string;
  coordinatorFingerprint?: string;
  foreground?: boolean;
  json?: boolean;
}

const CONFIG_HELP = 'config file (default: CONEGATE_CONFIG, then the platform default)';

/** The flags as a `mesh` overlay on the config; validated again so a bad flag names its config key. */
export function applyUpFlags(config: Config, f: UpFlags): Config {
  const mesh: Record<string, unknown> = { ...config.mesh };
  if (f.coordinator !== undefined) Object.assign(mesh, { coordinator: f.coordinator, enabled: true });
  if (f.hostname !== undefined) mesh.hostname = f.hostname;
  if (f.advertiseRoutes !== undefined) mesh.advertiseRoutes = f.advertiseRoutes.split(',').map((s) => s.trim()).filter(Boolean);
  if (f.acceptRoutes !== undefined) mesh.acceptRoutes = f.acceptRoutes;
  if (f.stateDir !== undefined) mesh.stateDir = f.stateDir;
  if (f.ca !== undefined) mesh.ca = f.ca;
  if (f.coordinatorFingerprint !== undefined) mesh.coordinatorFingerprint = f.coordinatorFingerprint;
  if (f.ca !== undefined && f.coordinatorFingerprint !== undefined) throw new ConegateError('CG_USAGE', 'give --ca or --coordinator-fingerprint, not both');
  return validateConfig({ ...config, mesh }, 'conegate up flags');
}

async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const c of process.stdin) {
    text += String(c);
    if (text.includes('\n') || text.length > 4096) break;
  }
  return text.split('\n')[0]!.trim();
}

async function runForeground(config: Config, g: GlobalOptions, authKey: string | undefined, json: boolean, configPath: string | undefined): Promise<void> {
  const log = loggerFor(g, config);
  const stateDir = stateDirOf(config, (await detectPlatform('/')).kind);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // The page's settings are written to the file the agent runs from (the platform default when none was given).
  const file = configPath ?? (await detectPlatform('/')).conegateConfig;
  const agent = new Agent({ config, stateDir, controlSocket: controlSocketOf(config), ...(authKey ? { authKey } : {}), log, clock: realClock, configPath: file, webByDefault: true });
  const onSignal = () => void agent.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await agent.start();
    if (json) process.stdout.write(JSON.stringify({ up: true, pid: process.pid, control: controlSocketOf(config) }) + '\n');
    await agent.stopped;
    if (agent.fatal) throw agent.fatal;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The agent's own last word in its log ("conegate: ..."), to show why a background start failed. */
function lastMessage(logPath: string): string | undefined {
  try {
    const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n');
    return lines.reverse().find((l) => l.startsWith('conegate: '))?.slice('conegate: '.length);
  } catch {
    return undefined;
  }
}

/** Starts `up --foreground` detached, hands it the auth key on stdin (never argv), waits until it answers. */
async function runBackground(config: Config, argv: string[], authKey: string | undefined): Promise<unknown> {
  const stateDir = stateDirOf(config, (await detectPlatform('/')).kind);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const logPath = join(stateDir, 'conegate.log');
  const logFd = openSync(logPath, 'a', 0o600);
  const args = [...process.execArgv, process.argv[1]!, ...argv.filter((a) => a !== '--auth-key' && !a.startsWith('--auth-key=')), '--foreground', ...(authKey ? ['--auth-key-stdin'] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['pipe', 'ignore', logFd] });
  closeSync(logFd);
  child.stdin?.end(authKey ? authKey + '\n' : '');
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const socket = controlSocketOf(config);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const why = lastMessage(logPath);
      throw new ConegateError(exited === 2 ? 'CG_CONFIG_INVALID' : 'CG_COMMAND_FAILED', `the agent exited with status ${exited} while starting${why ? `: ${why}` : ''} (log: ${logPath})`);
    }
    try {
      const st = await controlRequest(socket, 'status', 2000);
      child.unref();
      return st;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new ConegateError('CG_TIMEOUT', `the agent did not answer on ${socket} within 30 s; see ${logPath}`);
}

/**
 * `conegate up --advertise-routes ...` / `--accept-routes` while the agent runs: the change goes to the
 * running agent over the control socket (which tells the coordinator), instead of a second agent.
 * Returns false when no agent answers (then `up` starts one).
 */
async function changeRunning(config: Config, f: UpFlags): Promise<boolean> {
  const socket = controlSocketOf(config);
  try {
    await controlRequest(socket, 'status', 2000);
  } catch (err) {
    if (err instanceof ConegateError && err.code === 'CG_NOT_RUNNING') return false;
    throw err;
  }
  if (f.advertiseRoutes === undefined && f.acceptRoutes === undefined) throw new ConegateError('CG_BUSY', `conegate is already running (${socket}); change routes with --advertise-routes/--accept-routes, or stop it first (conegate down)`);
  const r = await controlRequest(socket, 'set-routes', 30_000, { ...(f.advertiseRoutes !== undefined ? { advertiseRoutes: config.mesh.advertiseRoutes } : {}), ...(f.acceptRoutes !== undefined ? { acceptRoutes: f.acceptRoutes } : {}) });
  const st = r as { advertiseRoutes: string[]; acceptRoutes: boolean };
  printResult(f.json === true, st, () => `conegate: advertising ${st.advertiseRoutes.join(', ') || 'no routes'}; accepting routes: ${st.acceptRoutes ? 'yes' : 'no'}`);
  return true;
}

export function upCommand(): Command {
  return new Command('up')
    .description('run the agent service: mesh node and the router services the config enables')
    .option('--coordinator <url>', 'coordinator URL (https; mesh.coordinator); enables the mesh')
    .option('--auth-key <key>', 'pre-auth key for the first registration (never stored in the config)')
    .addOption(new Option('--auth-key-stdin', 'read the auth key from stdin').hideHelp())
    .option('--hostname <name>', 'name in the mesh (mesh.hostname)')
    .option('--advertise-routes <cidrs>', 'comma-separated subnets to offer (mesh.advertiseRoutes)')
    .option('--accept-routes', 'use approved subnet routes of other nodes (mesh.acceptRoutes)')
    .option('--no-accept-routes', 'stop using other nodes\' subnet routes')
    .option('--state-dir <dir>', 'identity keys and control socket (mesh.stateDir)')
    .option('--ca <file>', 'CA that signed the coordinator certificate (mesh.ca)')
    .option('--coordinator-fingerprint <sha256>', 'pin the coordinator certificate (mesh.coordinatorFingerprint)')
    .option('--config <file>', CONFIG_HELP)
    .option('--foreground', 'stay in the foreground (systemd, rc.d daemon(8), tests)')
    .option('--json', 'machine-readable output')
    .action(async (f: UpFlags & { config?: string }, c: Command) => {
      const g = globalOptions(c);
      const resolved = await resolveConfig(g);
      const config = applyUpFlags(resolved.config, f);
      if (f.authKey !== undefined && f.authKeyStdin) throw new ConegateError('CG_USAGE', 'give --auth-key or --auth-key-stdin, not both');
      const authKey = f.authKeyStdin ? await readStdinLine() : f.authKey;
      if (f.foreground) return runForeground(config, g, authKey, f.json === true, resolved.path);
      if (await changeRunning(config, f)) return;
      const argv = process.argv.slice(process.argv.indexOf('up'));
      const st = (await runBackground(config, argv, authKey)) as { mesh: MeshStatus | null };
      printResult(f.json === true, st, () => `conegate is up${st.mesh ? ` (mesh: ${st.mesh.coordinator.phase})` : ''}`);
    });
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
      const config = applyUpFlags((await resolveConfig(globalOptions(c))).config, { ...(f.stateDir ? { stateDir: f.stateDir } : {}) });
      const result = await controlRequest(controlSocketOf(config), name);
      printResult(f.json === true, result, () => (name === 'status' ? humanStatus(result as Parameters<typeof humanStatus>[0]) : name === 'down' ? 'conegate is stopping' : 'logged out of the mesh'));
    });
}

export const statusCommand = () => clientCommand('status', 'show the running agent: mesh peers (names, addresses, keys, endpoints, handshakes, bytes) and services');
export const downCommand = () => clientCommand('down', 'stop the running agent');
export const logoutCommand = () => clientCommand('logout', 'leave the mesh: this node leaves every map and its keys are deleted');
/** The four commands of the agent service (the bench builds a program of just these). */
export const upCommands: (() => Command)[] = [upCommand, statusCommand, downCommand, logoutCommand];
