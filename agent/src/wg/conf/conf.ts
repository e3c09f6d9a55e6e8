/**
 * `conegate wg up --config FILE`: the plain-WireGuard config, as a wg-quick-like INI subset or JSON.
 *
 *   [Interface]                         {"interface": {"privateKey": "...", "listenPort": 51820,
 *   PrivateKey = <base64>                               "address": ["100.64.0.1/24"], "mtu": 1420},
 *   ListenPort = 51820                   "peers": [{"publicKey": "...", "presharedKey": "...",
 *   Address = 100.64.0.1/24, 2001:db8::1/64         "endpoint": "192.0.2.2:51820",
 *   MTU = 1420                                      "allowedIps": ["100.64.0.2/32"],
 *   [Peer]                                          "persistentKeepalive": 25}]}
 *   PublicKey = <base64>
 *   PresharedKey = <base64>
 *   Endpoint = 192.0.2.2:51820 | [2001:db8::2]:51820 | host.example:51820
 *   AllowedIPs = 100.64.0.2/32, 2001:db8::2/128
 *   PersistentKeepalive = 25
 *
 * Keys are case-insensitive (as in wg-quick); list values may be comma-separated or repeated. Keys
 * wg-quick knows but this mode does not do (DNS, Table, PreUp/PostUp/..., SaveConfig, FwMark) are errors
 * naming the key, as unknown keys are: silently ignoring a DNS or firewall hook would surprise.
 * Pure: text in, value out; errors are CG_CONFIG_INVALID with the line, never with a key's value.
 */
import { ConegateError } from '../../errors.ts';
import { parseCidr } from '../../net/ip.ts';
import { keyFromBase64 } from '../keys.ts';

export interface WgUpPeer {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** host (IP literal or name) and port; names are resolved when the tunnel comes up. */
  endpoint?: { host: string; port: number };
  allowedIps: string[];
  persistentKeepaliveSec?: number;
}

export interface WgUpConfig {
  privateKey: Uint8Array;
  listenPort?: number;
  addresses: string[];
  mtu?: number;
  peers: WgUpPeer[];
}

interface Entry {
  key: string;
  value: string;
  where: string;
}
interface Section {
  kind: 'interface' | 'peer';
  where: string;
  entries: Entry[];
}

const NOT_HERE = new Set(['dns', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig', 'fwmark']);

function bad(where: string, message: string): ConegateError {
  return new ConegateError('CG_CONFIG_INVALID', `${where}: ${message}`);
}

/** Parses a config file's text; JSON when it starts with `{`, INI otherwise. */
export function parseWgUpConfig(text: string, source = 'config'): WgUpConfig {
  return build(text.trimStart().startsWith('{') ? sectionsFromJson(text, source) : sectionsFromIni(text, source), source);
}

function sectionsFromIni(text: string, source: string): Section[] {
  const sections: Section[] = [];
  let current: Section | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${source} line ${i + 1}`;
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      const kind = (header[1] as string).toLowerCase();
      if (kind !== 'interface' && kind !== 'peer') throw bad(where, `unknown section [${header[1]}]`);
      current = { kind, where, entries: [] };
      sections.push(current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw bad(where, 'expected Key = Value');
    if (!current) throw bad(where, 'a key outside [Interface] or [Peer]');
    current.entries.push({ key: line.slice(0, eq).trim().toLowerCase(), value: line.slice(eq + 1).trim(), where });
  });
  return sections;
}

function sectionsFromJson(text: string, source: string): Section[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad(source, 'not valid JSON');
  }
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(source, `${where} must be an object`);
    return v as Record<string, unknown>;
  };
  const toEntries = (o: Record<string, unknown>, where: string): Entry[] =>
    Object.entries(o).flatMap(([key, v]) => {
      const values = Array.isArray(v) ? v : [v];
      return values.map((x) => {
        if (typeof x !== 'string' && typeof x !== 'number') throw bad(source, `${where}.${key} must be a string or number`);
        return { key: key.toLowerCase(), value: String(x), where: `${source} ${where}.${key}` };
      });
    });
  const root = obj(doc, 'the document');
  for (const k of Object.keys(root)) if (k !== 'interface' && k !== 'peers') throw bad(source, `unknown key ${JSON.stringify(k)}`);
  const peers = root.peers ?? [];
  if (!Array.isArray(peers)) throw bad(source, 'peers must be an array');
  return [
    { kind: 'interface', where: `${source} interface`, entries: toEntries(obj(root.interface, 'interface'), 'interface') },
    ...peers.map((p, i): Section => ({ kind: 'peer', where: `${source} peers[${i}]`, entries: toEntries(obj(p, `peers[${i}]`), `peers[${i}]`) })),
  ];
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function key(e: Entry, what: string): Uint8Array {
  try {
    return keyFromBase64(e.value);
  } catch {
    throw bad(e.where, `${what} is not a base64 WireGuard key (generate one with conegate keygen)`);
  }
}

function int(e: Entry, min: number, max: number): number {
  if (!/^\d+$/.test(e.value) || Number(e.value) < min || Number(e.value) > max) throw bad(e.where, `${e.key} must be an integer ${min}..${max}`);
  return Number(e.value);
}

function prefix(e: Entry, v: string): string {
  if (!parseCidr(v, { loose: true })) throw bad(e.where, `${JSON.stringify(v)} is not an address/prefix`);
  return v;
}

function endpoint(e: Entry): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(e.value) ?? /^([A-Za-z0-9.-]+):(\d+)$/.exec(e.value);
  const port = Number(m?.[2]);
  if (!m || !(port >= 1 && port <= 65535)) throw bad(e.where, `Endpoint ${JSON.stringify(e.value)} must be host:port or [v6]:port`);
  return { host: m[1] as string, port };
}

function build(sections: Section[], source: string): WgUpConfig {
  const ifaces = sections.filter((s) => s.kind === 'interface');
  if (ifaces.length !== 1) throw bad(source, 'exactly one [Interface] section is needed');
  const iface = ifaces[0] as Section;
  let privateKey: Uint8Array | undefined;
  const out: Omit<WgUpConfig, 'privateKey'> = { addresses: [], peers: [] };
  for (const e of iface.entries) {
    if (e.key === 'privatekey') privateKey = key(e, 'PrivateKey');
    else if (e.key === 'listenport') out.listenPort = int(e, 0, 65535);
    else if (e.key === 'address') out.addresses.push(...list(e.value).map((v) => prefix(e, v)));
    else if (e.key === 'mtu') out.mtu = int(e, 1280, 9000);
    else throw unknown(e);
  }
  if (!privateKey) throw bad(iface.where, 'PrivateKey is required');
  for (const s of sections.filter((x) => x.kind === 'peer')) {
    let publicKey: Uint8Array | undefined;
    const peer: Omit<WgUpPeer, 'publicKey'> = { allowedIps: [] };
    for (const e of s.entries) {
      if (e.key === 'publickey') publicKey = key(e, 'PublicKey');
      else if (e.key === 'presharedkey') peer.presharedKey = key(e, 'PresharedKey');
      else if (e.key === 'endpoint') peer.endpoint = endpoint(e);
      else if (e.key === 'allowedips') peer.allowedIps.push(...list(e.value).map((v) => prefix(e, v)));
      else if (e.key === 'persistentkeepalive') peer.persistentKeepaliveSec = e.value === 'off' ? 0 : int(e, 0, 65535);
      else throw unknown(e);
    }
    if (!publicKey) throw bad(s.where, 'PublicKey is required in every [Peer]');
    out.peers.push({ publicKey, ...peer });
  }
  return { privateKey, ...out };
}

function unknown(e: Entry): ConegateError {
  return bad(e.where, NOT_HERE.has(e.key) ? `${e.key} is a wg-quick feature conegate wg up does not provide` : `unknown key ${JSON.stringify(e.key)}`);
}
