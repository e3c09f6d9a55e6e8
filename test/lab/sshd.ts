/**
 * Real OpenSSH servers for the fleet tests: one `/usr/sbin/sshd -D -e -f CONFIG` per fake router,
 * inside the router's namespace on its WAN address, each with its own host keys, an authorized client
 * key and a per-host directory the tests use as the device's ROOT. The login shell is chosen per host
 * (sh, or tcsh like OPNsense's root) without touching the machine's users: sshd runs in a private
 * mount namespace where a copy of /etc/passwd with that root entry is bind-mounted over the real one.
 *
 * The controller (the test process) cannot route into the lab, so `labDial` carries each connection
 * through a small relay process in a lab node (a perl one-liner: perl-base is essential on Debian),
 * like an ssh ProxyCommand. Every process is recorded and ended by PID.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { ConegateError } from '../../agent/src/errors.ts';
import type { Dial } from '../../agent/src/fleet/ssh-remote.ts';
import type { FleetHost } from '../../agent/src/fleet/types.ts';
import type { Lab } from './lab.ts';
import { recordPid, type LabProcess } from './proc.ts';
import { requirePeers } from './require-peers.ts';

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export function requireSshPeers(): void {
  requirePeers({ '/usr/sbin/sshd': 'openssh-server', 'ssh-keygen': 'openssh-client', tcsh: 'tcsh', perl: 'perl-base', unshare: 'util-linux' });
}

async function run(argv: string[]): Promise<void> {
  const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => p.on('close', r));
  if (code !== 0) throw new ConegateError('CG_COMMAND_FAILED', `${argv.join(' ')}: exit ${code}: ${err.trim()}`);
}

/** A client key pair for the controller (ssh-keygen writes the private half 0600). */
export async function makeClientKey(dir: string): Promise<{ keyFile: string; pub: string }> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'id_ed25519');
  rmSync(keyFile, { force: true });
  rmSync(`${keyFile}.pub`, { force: true });
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'fleet-controller', '-f', keyFile]);
  return { keyFile, pub: readFileSync(`${keyFile}.pub`, 'utf8').trim() };
}

export interface SshdOptions {
  /** Root's login shell on this host. @default 'sh' */
  shell?: 'sh' | 'tcsh';
  port?: number;
  keyTypes?: HostKeyType[];
  /**
   * Also bind-mount this host's root directory (with what is mounted below it, e.g. a small tmpfs for
   * a full disk) at this path inside sshd's mount namespace, and so for every process of its sessions:
   * hosts with their own trees share one path, the fleet rollout's single fake-root prefix. The path
   * must exist (an empty directory) on the machine.
   */
  rootAt?: string;
}

export class SshdHost {
  proc!: LabProcess;
  /** "type base64" per host key type. */
  hostKeys: Partial<Record<HostKeyType, string>> = {};
  readonly root: string;
  readonly port: number;
  readonly address: string;

  constructor(private readonly lab: Lab, readonly node: string, readonly dir: string, private readonly clientPub: string, readonly opts: SshdOptions) {
    this.port = opts.port ?? 22;
    this.address = lab.addr(node);
    this.root = join(dir, 'root');
  }

  /** The inventory entry a test hands to the connector. */
  fleetHost(keyFile: string, name = this.node): FleetHost {
    return { name, address: this.address, port: this.port, user: 'root', keyFile, vars: {}, groups: ['all'] };
  }

  async newHostKeys(): Promise<void> {
    for (const t of this.opts.keyTypes ?? ['ed25519', 'ecdsa', 'rsa']) {
      const f = join(this.dir, `ssh_host_${t}_key`);
      rmSync(f, { force: true });
      rmSync(`${f}.pub`, { force: true });
      await run(['ssh-keygen', '-q', '-t', t, ...(t === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', this.node, '-f', f]);
      this.hostKeys[t] = readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    }
  }

  private writeConfig(): string {
    const home = join(this.dir, 'home');
    mkdirSync(home, { recursive: true });
    mkdirSync(this.root, { recursive: true });
    writeFileSync(join(this.dir, 'authorized_keys'), `${this.clientPub}\n`, { mode: 0o600 });
    // csh reads ~/.cshrc even for `tcsh -c CMD`; OPNsense's root has one, so this host has one too.
    writeFileSync(join(home, '.cshrc'), 'set path = (/sbin /bin /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin)\nalias h history 25\nsetenv PAGER less\n');
    const shell = this.opts.shell === 'tcsh' ? '/usr/bin/tcsh' : '/bin/sh';
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').filter((l) => !l.startsWith('root:'));
    writeFileSync(join(this.dir, 'passwd'), [`root:x:0:0:root:${home}:${shell}`, ...passwd].join('\n'));
    const cfg = join(this.dir, 'sshd_config');
    const keys = (this.opts.keyTypes ?? ['ed25519', 'ecdsa', 'rsa']).map((t) => `HostKey ${join(this.dir, `ssh_host_${t}_key`)}`);
    writeFileSync(cfg, [
      `ListenAddress ${this.address}:${this.port}`, ...keys, `PidFile ${join(this.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`, 'UsePAM no', 'StrictModes no', 'PermitRootLogin prohibit-password',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PrintMotd no', 'PrintLastLog no', 'UseDNS no',
      'MaxStartups 200', 'MaxSessions 50', 'LogLevel INFO', '',
    ].join('\n'));
    return cfg;
  }

  async start(): Promise<void> {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    const cfg = this.writeConfig();
    this.proc = this.lab.spawn(this.node, [
      'unshare', '-m', '--propagation', 'private', 'sh', '-c',
      `mount --bind "$0" /etc/passwd${this.opts.rootAt ? ' && mount --rbind "$2" "$3"' : ''} && exec /usr/sbin/sshd -D -e -f "$1"`,
      join(this.dir, 'passwd'), cfg, ...(this.opts.rootAt ? [this.root, this.opts.rootAt] : []),
    ], { description: `sshd ${this.node}` });
    await this.proc.waitForOutput(/Server listening on/, 10_000, 'stderr');
  }

  /** PIDs of the per-connection sshd processes (children of the listener and theirs). */
  sessionPids(): number[] {
    const parent = new Map<number, number>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch { /* gone */ }
    }
    const out: number[] = [];
    const walk = (pid: number) => {
      for (const [c, p] of parent) if (p === pid) { out.push(c); walk(c); }
    };
    walk(this.proc.pid);
    return out;
  }

  async restart(opts: { newKeys?: boolean } = {}): Promise<void> {
    await this.proc.stop();
    if (opts.newKeys) await this.newHostKeys();
    await this.start();
  }
}

/** Starts sshd on a lab router's WAN address (and opens its input firewall for it). */
export async function startSshd(lab: Lab, node: string, clientPub: string, opts: SshdOptions = {}): Promise<SshdHost> {
  const dir = join(lab.workDir, `sshd-${node.replace(/\W/g, '_')}`);
  mkdirSync(dir, { recursive: true });
  const h = new SshdHost(lab, node, dir, clientPub, opts);
  if (lab.node(node).nat) await lab.allowRouterInput(node, 'tcp', h.port);
  await h.newHostKeys();
  await h.start();
  return h;
}

/** known_hosts text for the given hosts (plain entries, [addr]:port when not 22). */
export function knownHostsFor(hosts: SshdHost[], type: HostKeyType = 'ed25519'): string {
  return hosts.map((h) => `${h.port === 22 ? h.address : `[${h.address}]:${h.port}`} ${h.hostKeys[type]}\n`).join('');
}

export function copyKnownHosts(from: string, to: string): void {
  copyFileSync(from, to);
}

const RELAY = String.raw`
use strict; use IO::Socket::INET; use IO::Select; $SIG{PIPE} = 'IGNORE';
my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Proto => 'tcp', Timeout => $ARGV[2])
  or do { print STDERR "connect failed: $@\n"; exit 2 };
print STDERR "connected\n"; binmode STDIN; binmode STDOUT; binmode $s;
my $sel = IO::Select->new(\*STDIN, $s);
sub put { my ($fh, $b) = @_; while (length $b) { my $n = syswrite($fh, $b); exit 0 unless $n; substr($b, 0, $n) = ''; } }
while ($sel->count) {
  for my $h ($sel->can_read) {
    my $n = sysread($h, my $buf, 65536);
    if (fileno($h) == fileno($s)) { exit 0 unless $n; put(\*STDOUT, $buf); }
    elsif ($n) { put($s, $buf); }
    else { shutdown($s, 1); $sel->remove(\*STDIN); }
  }
}`;

/** A Dial that connects from a lab node (e.g. the internet server `s1`) through a relay process. */
export function labDial(lab: Lab, fromNode: string): Dial {
  const ns = lab.netns(fromNode);
  return (address, port, timeoutMs) =>
    new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, 'perl', '-e', RELAY, address, String(port), String(Math.max(1, Math.ceil(timeoutMs / 1000)))], { stdio: ['pipe', 'pipe', 'pipe'] });
      const pid = child.pid!;
      recordPid(pid, `ssh relay ${fromNode} -> ${address}:${port}`);
      let err = '';
      const kill = () => { try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ } };
      child.on('error', (e) => reject(new ConegateError('CG_NETWORK', `relay: ${e.message}`)));
      child.on('exit', () => reject(new ConegateError('CG_NETWORK', `cannot reach ${address}:${port} from ${fromNode}: ${err.trim()}`)));
      child.stderr.on('data', (c: Buffer) => {
        err += c;
        if (!err.includes('connected\n')) return;
        child.stderr.removeAllListeners('data');
        child.stderr.resume();
        const sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
        sock.on('close', kill);
        child.on('exit', () => sock.destroy());
        resolve(sock);
      });
    });
}
