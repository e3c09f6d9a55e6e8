/**
 * Every top-level subcommand, in the order --help lists them: one line each, name, description and a
 * loader. The loader's `import()` runs only when that command is the one invoked, so `conegate --help`
 * or `conegate keygen` never load the code (and dependencies) of `pmp serve` or `wg up`; in the bundle
 * each `import()` is its own chunk. Each area keeps its command in its own file (commands/<area>.ts).
 *
 * Adding a command is one line here:
 *   lazy('up', 'bring the mesh node up', () => import('./up.ts').then((m) => m.upCommand())),
 * The name, aliases and description must match what the loaded Command says (a unit test checks).
 */
import type { Command } from 'commander';

export interface CommandEntry {
  name: string;
  aliases: string[];
  description: string;
  load: () => Promise<Command>;
}

function lazy(name: string, description: string, load: () => Promise<Command>, aliases: string[] = []): CommandEntry {
  return { name, aliases, description, load };
}

export const COMMANDS: CommandEntry[] = [
  lazy('config', 'check and show the JSON config file', () => import('./config.ts').then((m) => m.configCommand())),
  lazy('platform', 'detect the platform: OPNsense, pfSense, FreeBSD, UniFi OS or generic Linux', () => import('./platform.ts').then((m) => m.platformCommand())),
  lazy('netcheck', 'probe STUN servers and report the NAT in front of this host: mapping, filtering, hairpinning, IPv6, port mapping, and how to fix a hard NAT', () => import('./netcheck.ts').then((m) => m.netcheckCommand())),
  lazy('pf', 'endpoint-independent NAT: generate, diff, apply (confirm or revert), status', () => import('./pf.ts').then((m) => m.pfCommand()), ['nat']),
  lazy('pmp', 'NAT-PMP (RFC 6886) and PCP (RFC 6887) server for LAN clients', () => import('./pmp.ts').then((m) => m.pmpCommand())),
  lazy('portmap', 'ask the upstream router for a port mapping (PCP, NAT-PMP, UPnP IGD)', () => import('./portmap.ts').then((m) => m.portmapCommand())),
  lazy('stun', 'STUN server and client (RFC 8489, RFC 5780 NAT behaviour discovery)', () => import('./stun.ts').then((m) => m.stunCommand())),
  lazy('ips', 'find IPS/IDS rules that block peer-to-peer traffic, and test the path', () => import('./ips.ts').then((m) => m.ipsCommand())),
  lazy('keygen', 'generate a WireGuard private key (base64), like wg genkey', () => import('./wg.ts').then((m) => m.keygenCommand())),
  lazy('pubkey', 'read a private key (base64) on stdin, print its public key, like wg pubkey', () => import('./wg.ts').then((m) => m.pubkeyCommand())),
  lazy('wg', 'WireGuard data plane', () => import('./wg.ts').then((m) => m.wgCommand())),
  lazy('up', 'run the agent service: mesh node and the router services the config enables', () => import('./up.ts').then((m) => m.upCommand())),
  lazy('status', 'show the running agent: mesh peers (names, addresses, keys, endpoints, handshakes, bytes) and services', () => import('./client.ts').then((m) => m.statusCommand())),
  lazy('ping', 'ping a mesh peer through the running agent and say which path answered (direct, UDP relay, TCP relay)', () => import('./ping.ts').then((m) => m.pingCommand())),
  lazy('down', 'stop the running agent', () => import('./client.ts').then((m) => m.downCommand())),
  lazy('logout', 'leave the mesh: this node leaves every map and its keys are deleted', () => import('./client.ts').then((m) => m.logoutCommand())),
  lazy('control', 'send one JSON request to the running agent\'s control socket and print the answer (the appliance pages use it)', () => import('./control.ts').then((m) => m.controlCommand())),
  lazy('web', 'the agent\'s own web page (UniFi OS, Linux): its login token', () => import('./control.ts').then((m) => m.webCommand())),
  lazy('coord', 'mesh coordinator: serve it, and manage auth keys, nodes and routes', () => import('./coord.ts').then((m) => m.coordCommand())),
  lazy('relay', 'relay server: packets between nodes over TLS on TCP 443 when no direct path exists', () => import('./relay.ts').then((m) => m.relayCommand())),
  lazy('fleet', 'fleet rollout over SSH: inventories (Ansible INI/YAML or our own form), host selection and rollout batches', () => import('./fleet.ts').then((m) => m.fleetCommand())),
];
