/**
 * WireGuard peers in lab nodes for the interop tests and the benchmark: `wireguard-go -f` configured
 * with `wg` and `ip` (the reference), and `conegate wg up` (ours). Keys are made here with our keygen
 * (wireguard-tools' `wg pubkey` is checked against it in the interop test).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from '../../lab/lab.ts';
import { requirePeers as requireTools } from '../../lab/require-peers.ts';
import type { LabProcess } from '../../lab/proc.ts';
import { generatePrivateKey, keyToBase64, publicKey } from '../../../agent/src/wg/keys.ts';
import { conegateArgv } from '../../conegate.ts';

/** The peers the WireGuard interop tests need; a missing one fails with the package to install. */
export function requirePeers(tools: Record<string, string> = { 'wireguard-go': 'wireguard-go', wg: 'wireguard-tools', iperf3: 'iperf3', ping: 'iputils-ping' }): void {
  requireTools(tools);
}

export interface KeyPair {
  priv: string;
  pub: string;
}

export function keyPair(): KeyPair {
  const k = generatePrivateKey();
  return { priv: keyToBase64(k), pub: keyToBase64(publicKey(k)) };
}

export interface PeerSpec {
  pub: string;
  allowedIps: string[];
  endpoint?: string;
  keepaliveSec?: number;
  psk?: string;
}

export interface WgNodeSpec {
  node: string;
  ifname: string;
  keys: KeyPair;
  listenPort: number;
  /** Tunnel address(es) with prefix, e.g. 100.64.0.1/24 or [100.64.0.1/24, 2001:db8:64::1/64]. */
  address: string | string[];
  peers: PeerSpec[];
  mtu?: number;
}

/** A scratch directory for key and config files (0700), removed by cleanup(). */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'cg-wg-interop-'));
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits (bounded) until `cond` holds, polling every 50 ms. */
export async function waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts wireguard-go in the foreground and configures it with wg + ip. */
export async function startWireguardGo(lab: Lab, spec: WgNodeSpec, scratch: Scratch): Promise<LabProcess> {
  const proc = lab.spawn(spec.node, ['wireguard-go', '-f', spec.ifname], { description: `wireguard-go ${spec.ifname}`, env: { LOG_LEVEL: 'error' } });
  const sock = `/var/run/wireguard/${spec.ifname}.sock`;
  await waitFor(async () => (await lab.exec(spec.node, ['test', '-S', sock])).code === 0 || proc.exited, 10_000, `${sock}`);
  if (proc.exited) throw new Error(`wireguard-go exited: ${proc.stderr}`);
  const keyFile = scratch.file(`${spec.ifname}.key`, spec.keys.priv + '\n');
  const args = ['set', spec.ifname, 'private-key', keyFile, 'listen-port', String(spec.listenPort)];
  for (const p of spec.peers) {
    args.push('peer', p.pub, 'allowed-ips', p.allowedIps.join(','));
    if (p.endpoint) args.push('endpoint', p.endpoint);
    if (p.keepaliveSec) args.push('persistent-keepalive', String(p.keepaliveSec));
    if (p.psk) args.push('preshared-key', scratch.file(`${spec.ifname}-${p.pub.slice(0, 6).replace(/\W/g, '')}.psk`, p.psk + '\n'));
  }
  await lab.exec(spec.node, ['wg', ...args], { check: true });
  for (const a of [spec.address].flat()) {
    await lab.exec(spec.node, ['ip', ...(a.includes(':') ? ['-6'] : []), 'addr', 'add', a, 'dev', spec.ifname, ...(a.includes(':') ? ['nodad'] : [])], { check: true });
  }
  await lab.exec(spec.node, ['ip', 'link', 'set', spec.ifname, 'mtu', String(spec.mtu ?? 1420), 'up'], { check: true });
  return proc;
}

/** The wg-quick-style config conegate wg up reads. */
export function conegateConfig(spec: WgNodeSpec): string {
  const lines = ['[Interface]', `PrivateKey = ${spec.keys.priv}`, `ListenPort = ${spec.listenPort}`, `Address = ${[spec.address].flat().join(', ')}`, `MTU = ${spec.mtu ?? 1420}`];
  for (const p of spec.peers) {
    lines.push('', '[Peer]', `PublicKey = ${p.pub}`, `AllowedIPs = ${p.allowedIps.join(', ')}`);
    if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
    if (p.keepaliveSec) lines.push(`PersistentKeepalive = ${p.keepaliveSec}`);
    if (p.psk) lines.push(`PresharedKey = ${p.psk}`);
  }
  return lines.join('\n') + '\n';
}

/** Starts `conegate wg up` in the node; resolves once it printed its JSON "up" line. */
export async function startConegate(lab: Lab, spec: WgNodeSpec, scratch: Scratch, nodeArgs: string[] = []): Promise<LabProcess> {
  const conf = scratch.file(`${spec.ifname}.conf`, conegateConfig(spec));
  const proc = lab.spawn(spec.node, conegateArgv(['--log-level', 'warn', 'wg', 'up', '--config', conf, '--interface', spec.ifname, '--json'], nodeArgs), {
    description: `conegate wg up ${spec.ifname}`,
    stopTimeoutMs: 5000,
  });
  await proc.waitForOutput(/"listenPort"/, 20_000);
  return proc;
}
