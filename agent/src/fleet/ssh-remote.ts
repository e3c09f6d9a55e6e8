/**
 * RemoteHost over ssh2: public-key login, the host key always verified (ssh-known-hosts.ts), exec
 * channels only (no PTY), uploads through ssh-upload.ts.
 *
 * What the exec channel gets: sshd runs `$SHELL -c CMD` with the login shell of the user (sshd(8)),
 * no PTY, no login files other than the shell's own rc for -c (csh/tcsh read ~/.cshrc). So a command
 * is parsed once by that shell: csh on OPNsense, sh on Linux/UniFi; pfSense's and OPNsense's menu
 * wrappers show the menu only when no command is given and hand a given one to /bin/sh (vendor
 * source, not run on an appliance here). Hence every command is one line with nothing a csh would
 * read differently, and anything longer goes as a script on stdin of `/bin/sh -s`.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import ssh2 from 'ssh2';
import { ConegateError } from '../errors.ts';
import {
  decideHostKey, formatKnownHostsLine, hostKeyAlgorithms, knownHostsName, knownKeyTypes, parseKnownHosts, parsePublicKey,
  type HostKeyVerdict,
} from './ssh-known-hosts.ts';
import { uploadVia, type StdinSource } from './ssh-upload.ts';
import type { ExecOptions, ExecResult, FleetHost, HostTrust, RemoteConnector, RemoteHost } from './types.ts';

/** Opens the byte stream to a host's SSH port (plain TCP by default; the lab goes through a namespace). */
export type Dial = (address: string, port: number, timeoutMs: number) => Promise<Duplex>;

export interface SshOptions {
  /** Dial + key exchange + login. @default 15000 */
  connectTimeoutMs?: number;
  /** exec() without options. @default 60000 */
  commandTimeoutMs?: number;
  /** Each of the two steps of an upload (stream, verify + rename). @default 600000 */
  uploadTimeoutMs?: number;
  /** SSH keepalive; this many times 3 unanswered = connection lost. @default 5000 */
  keepaliveIntervalMs?: number;
  dial?: Dial;
}

export interface HostKeyReport {
  fingerprint: string;
  keyType: string;
  source: 'pinned' | 'known_hosts' | 'new';
  /** Set when a new key was accepted (acceptNew) and appended here. */
  recordedIn?: string;
}

const MAX_OUTPUT = 8 << 20;
/** ssh2's default host key algorithms; the ones known for a host go first (as ssh(1) orders them). */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

export const tcpDial: Dial = (address, port, timeoutMs) =>
  new Promise((resolve, reject) => {
    const s = new Socket();
    const t = setTimeout(() => { s.destroy(); reject(new ConegateError('CG_TIMEOUT', `no TCP connection to ${address}:${port} within ${timeoutMs} ms`)); }, timeoutMs);
    s.once('error', (err) => { clearTimeout(t); reject(new ConegateError('CG_NETWORK', `cannot reach ${address}:${port}: ${err.message}`, { cause: err })); });
    s.connect(port, address, () => { clearTimeout(t); s.removeAllListeners('error'); resolve(s); });
  });

function readTrust(host: FleetHost, trust: HostTrust) {
  if (!trust.pinnedKey && !trust.knownHostsFile) throw new ConegateError('CG_CONFIG_INVALID', `${host.name}: no known_hosts file and no pinned key: the host key could not be verified`);
  if (trust.acceptNew && !trust.knownHostsFile) throw new ConegateError('CG_CONFIG_INVALID', `${host.name}: accepting new host keys needs a known_hosts file to record them in`);
  let text = '';
  try {
    if (trust.knownHostsFile) text = readFileSync(trust.knownHostsFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${trust.knownHostsFile}: ${(err as Error).message}`);
  }
  return { lines: parseKnownHosts(text), pinned: trust.pinnedKey ? parsePublicKey(trust.pinnedKey) : undefined };
}

/** Appends an accepted key, 0600 when the file is new; re-checks first so parallel connects add it once. */
function recordKey(file: string, name: string, key: Buffer): void {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { /* new file */ }
  const already = parseKnownHosts(text).some((l) => !l.marker && l.key.equals(key) && decideHostKey(key, { name, lines: [l], acceptNew: false }).ok);
  if (already) return;
  closeSync(openSync(file, 'a', 0o600));
  appendFileSync(file, formatKnownHostsLine(name, key));
}

function privateKeyOf(host: FleetHost): Buffer | undefined {
  if (!host.keyFile) return undefined;
  try {
    return readFileSync(host.keyFile);
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `${host.name}: cannot read the private key file ${host.keyFile}: ${(err as Error).message}`);
  }
}

export async function connectSsh(host: FleetHost, trust: HostTrust, opts: SshOptions = {}): Promise<SshRemoteHost> {
  const { lines, pinned } = readTrust(host, trust);
  const privateKey = privateKeyOf(host);
  const name = knownHostsName(host.address, host.port);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
  const sock = await (opts.dial ?? tcpDial)(host.address, host.port, connectTimeoutMs);
  const known = pinned ? [pinned.keyType] : knownKeyTypes(lines, name);
  const preferred = known.flatMap(hostKeyAlgorithms);
  let verdict: HostKeyVerdict | undefined;
  let presented: Buffer = Buffer.alloc(0);
  let recordedIn: string | undefined;
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => fail(new ConegateError('CG_TIMEOUT', `${host.name}: SSH login not done within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    const fail = (err: ConegateError) => {
      clearTimeout(t);
      client.removeAllListeners('ready');
      client.on('error', () => {});
      client.end();
      sock.destroy();
      reject(err);
    };
    client.once('ready', () => {
      clearTimeout(t);
      client.removeAllListeners('error');
      client.removeListener('close', onEarlyClose);
      if (!verdict?.ok) return fail(new ConegateError('CG_INTERNAL', `${host.name}: logged in without a host key verdict`));
      const report: HostKeyReport = { fingerprint: verdict.fingerprint, keyType: verdict.keyType, source: verdict.source, ...(recordedIn ? { recordedIn } : {}) };
      resolve(new SshRemoteHost(host, client, report, presented, opts));
    });
    client.once('error', (err: Error & { level?: string }) => {
      if (verdict && !verdict.ok) return fail(new ConegateError(verdict.code, `${host.name}: ${verdict.message}`, { context: { host: host.name, fingerprint: verdict.fingerprint, expected: verdict.expected } }));
      if (err.level === 'client-authentication') return fail(new ConegateError('CG_AUTH_FAILED', `${host.name}: login as ${host.user} refused (public key not accepted)`, { context: { host: host.name } }));
      if (err.level === 'client-timeout') return fail(new ConegateError('CG_TIMEOUT', `${host.name}: SSH handshake timed out`, { context: { host: host.name } }));
      if (/private key|passphrase|Unsupported key/i.test(err.message)) return fail(new ConegateError('CG_CONFIG_INVALID', `${host.name}: cannot use the private key ${host.keyFile}: ${err.message}`));
      fail(new ConegateError('CG_NETWORK', `${host.name}: SSH connection failed: ${err.message}`, { cause: err, context: { host: host.name } }));
    });
    const onEarlyClose = () => fail(new ConegateError('CG_CONNECTION_LOST', `${host.name}: the server closed the connection during login`, { context: { host: host.name } }));
    client.once('close', onEarlyClose);
    client.connect({
      sock: sock as unknown as Readable,
      username: host.user,
      ...(privateKey ? { privateKey } : process.env.SSH_AUTH_SOCK ? { agent: process.env.SSH_AUTH_SOCK } : {}),
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 5000,
      keepaliveCountMax: 3,
      ...(preferred.length ? { algorithms: { serverHostKey: [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.includes(a))] as ssh2.ServerHostKeyAlgorithm[] } } : {}),
      hostVerifier: (key: Buffer) => {
        presented = key;
        verdict = decideHostKey(key, { name, lines, ...(pinned ? { pinned } : {}), acceptNew: trust.acceptNew });
        if (verdict.ok && verdict.source === 'new') {
          try {
            recordKey(trust.knownHostsFile!, name, key);
            recordedIn = trust.knownHostsFile;
          } catch (err) {
            verdict = { ok: false, code: 'CG_HOST_KEY_UNKNOWN', message: `new host key accepted but not recorded in ${trust.knownHostsFile}: ${(err as Error).message}`, fingerprint: verdict.fingerprint, expected: [] };
          }
        }
        return verdict.ok;
      },
    });
  });
}

function signalExit(signal: string | undefined): number {
  const n = signal ? (osConstants.signals as Record<string, number>)[`SIG${signal}`] : undefined;
  return 128 + (n ?? 0);
}

export class SshRemoteHost implements RemoteHost {
  private lost = false;
  private closed = false;
  private readonly onLost = new Set<() => void>();

  /** presentedKey: the verified key blob, so a cleanup connection pins exactly it. */
  constructor(readonly host: FleetHost, private readonly client: ssh2.Client, readonly hostKey: HostKeyReport, private readonly presentedKey: Buffer, private readonly opts: SshOptions) {
    client.on('error', () => { this.lost = true; });
    client.on('close', () => {
      this.lost = true;
      for (const f of this.onLost) f();
    });
  }

  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult> {
    if (/[\r\n]/.test(cmd)) return Promise.reject(new ConegateError('CG_INPUT_INVALID', 'a remote command must be one line (send scripts to /bin/sh -s on stdin)'));
    return this.run(cmd, opts?.stdin, opts?.timeoutMs ?? this.opts.commandTimeoutMs ?? 60_000);
  }

  upload(local: Buffer | string, remotePath: string, mode: number): Promise<void> {
    return uploadVia((c, s, t) => this.run(c, s, t), local, remotePath, mode, {
      timeoutMs: this.opts.uploadTimeoutMs ?? 600_000,
      randomHex: () => randomBytes(8).toString('hex'),
      cleanupAfterLoss: (tmp) => this.cleanupOverNewConnection(tmp),
    });
  }

  /** The session that wrote a temp file is gone: remove it over a fresh connection pinned to the same key. */
  private async cleanupOverNewConnection(tmp: string): Promise<boolean> {
    if (this.closed) return false;
    let again: SshRemoteHost | undefined;
    try {
      again = await connectSsh(this.host, { pinnedKey: `${this.hostKey.keyType} ${this.presentedKey.toString('base64')}`, acceptNew: false }, { ...this.opts, connectTimeoutMs: Math.min(this.opts.connectTimeoutMs ?? 15_000, 10_000) });
      return (await again.exec(`rm -f ${tmp}`, { timeoutMs: 10_000 })).code === 0;
    } catch {
      return false;
    } finally {
      await again?.close();
    }
  }

  private run(cmd: string, stdin: StdinSource | undefined, timeoutMs: number): Promise<ExecResult> {
    if (this.closed || this.lost) return Promise.reject(new ConegateError('CG_CONNECTION_LOST', `${this.host.name}: the SSH connection is gone`, { context: { host: this.host.name } }));
    return new Promise((resolve, reject) => {
      let settled = false;
      let channel: ssh2.ClientChannel | undefined;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let exit: number | undefined;
      const finish = (e?: ConegateError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.onLost.delete(lost);
        if (e) {
          try { channel?.close(); } catch { /* already gone */ }
          return reject(e);
        }
        resolve({ code: exit!, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      };
      const lost = () => finish(new ConegateError('CG_CONNECTION_LOST', `${this.host.name}: connection lost while running: ${cmd.slice(0, 80)}`, { context: { host: this.host.name } }));
      const timer = setTimeout(() => {
        try { channel?.signal('KILL'); } catch { /* best effort: OpenSSH >= 7.9 honours it */ }
        finish(new ConegateError('CG_TIMEOUT', `${this.host.name}: command did not finish within ${timeoutMs} ms: ${cmd.slice(0, 80)}`, { context: { host: this.host.name } }));
      }, timeoutMs);
      this.onLost.add(lost);
      if (stdin !== undefined && typeof stdin !== 'string' && !Buffer.isBuffer(stdin)) {
        // Attached before the channel opens: a local read error can come first.
        stdin.on('error', (se) => finish(se instanceof ConegateError ? se : new ConegateError('CG_CONFIG_UNREADABLE', se.message)));
      }
      this.client.exec(cmd, (e, ch) => {
        if (e) return finish(new ConegateError('CG_COMMAND_FAILED', `${this.host.name}: the server refused a channel: ${e.message}`));
        channel = ch;
        const keep = (into: Buffer[]) => (c: Buffer) => { size += c.length; if (size <= MAX_OUTPUT) into.push(c); };
        ch.on('data', keep(out));
        ch.stderr.on('data', keep(err));
        ch.on('exit', (code: number | null, signal?: string) => { exit = code ?? signalExit(signal); });
        // OpenSSH always sends exit-status or exit-signal before closing a channel; a close without
        // one means the session went away underneath the command.
        ch.on('close', () => (exit === undefined ? lost() : finish()));
        if (stdin === undefined) ch.end();
        else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) ch.end(stdin);
        else stdin.pipe(ch);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.lost) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.client.destroy(); resolve(); }, 2000);
      this.client.once('close', () => { clearTimeout(t); resolve(); });
      this.client.end();
    });
  }
}

/** The seam the rollout takes: a RemoteConnector over ssh2 with these options. */
export function sshConnector(opts: SshOptions = {}): RemoteConnector {
  return (host, trust) => connectSsh(host, trust, opts);
}
