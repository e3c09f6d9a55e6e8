/**
 * Node identity (docs/mesh-protocol.md "Identity"): three keys in the state directory, each its own
 * 0600 file of 64 hex characters, created on first use and kept across restarts.
 * - machine.key: Ed25519, long-lived; signs every coordinator request (the node's identity there).
 * - node.key: X25519, the WireGuard private key peers know us by.
 * - disco.key: X25519, seals discovery messages; never the WireGuard key.
 * Private halves never reach a log line: callers log only the public keys.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { x25519Public } from '../wg/x25519.ts';
import { ConegateError } from '../errors.ts';
import { generatePrivateKey, keyFromBase64, keyFromHex, keyToBase64, keyToHex, publicKey as wgPublicKey } from '../wg/keys.ts';
import { readSecretFile, writeSecretFile } from '../secrets/file.ts';

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface NodeIdentity {
  machine: KeyPair;
  node: KeyPair;
  disco: KeyPair;
}

export const IDENTITY_FILES = { machine: 'machine.key', node: 'node.key', disco: 'disco.key' } as const;

type Kind = keyof typeof IDENTITY_FILES;

function derive(kind: Kind, privateKey: Uint8Array): KeyPair {
  if (kind === 'machine') return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
  if (kind === 'node') return { privateKey, publicKey: wgPublicKey(privateKey) };
  return { privateKey, publicKey: x25519Public(privateKey) };
}

function generate(kind: Kind, randomBytes: (n: number) => Uint8Array): Uint8Array {
  if (kind === 'node') return generatePrivateKey(randomBytes);
  return Uint8Array.from(randomBytes(32));
}

/** How a key file is spelt: our state files are hex; wg.privateKeyFile is base64, as `wg genkey` writes it. */
interface KeyFile {
  path: string;
  encoding: 'hex' | 'base64';
}

async function loadOrCreate(file: KeyFile, kind: Kind, randomBytes: (n: number) => Uint8Array): Promise<KeyPair> {
  const { path, encoding } = file;
  const text = await readSecretFile(path, `${kind} key`);
  if (text !== undefined) {
    let key: Uint8Array;
    try {
      key = encoding === 'hex' ? keyFromHex(text.trim()) : keyFromBase64(text.trim());
    } catch {
      // Never echo the file's content: it is (meant to be) a private key.
      throw new ConegateError('CG_STATE_CORRUPT', `${path} is not a 32-byte ${encoding} key; move it away to create a new ${kind} key (a new machine key means registering again)`, { context: { path } });
    }
    return derive(kind, key);
  }
  const key = generate(kind, randomBytes);
  await writeSecretFile(path, (encoding === 'hex' ? keyToHex(key) : keyToBase64(key)) + '\n', { createDir: true });
  return derive(kind, key);
}

/**
 * Loads the three keys from `dir`, creating any that is missing. `nodeKeyFile` (the config's
 * wg.privateKeyFile) puts the WireGuard key in the operator's own base64 file instead of the state dir.
 */
export async function loadIdentity(dir: string, randomBytes: (n: number) => Uint8Array = nodeRandomBytes, options: { nodeKeyFile?: string } = {}): Promise<NodeIdentity> {
  const inDir = (kind: Kind): KeyFile => ({ path: join(dir, IDENTITY_FILES[kind]), encoding: 'hex' });
  const nodeFile: KeyFile = options.nodeKeyFile !== undefined ? { path: options.nodeKeyFile, encoding: 'base64' } : inDir('node');
  return {
    machine: await loadOrCreate(inDir('machine'), 'machine', randomBytes),
    node: await loadOrCreate(nodeFile, 'node', randomBytes),
    disco: await loadOrCreate(inDir('disco'), 'disco', randomBytes),
  };
}

/** The public halves, as the coordinator and `status` show them. */
export function publicIdentity(id: NodeIdentity): { machineKey: string; nodeKey: string; discoKey: string } {
  return { machineKey: keyToHex(id.machine.publicKey), nodeKey: keyToHex(id.node.publicKey), discoKey: keyToHex(id.disco.publicKey) };
}
