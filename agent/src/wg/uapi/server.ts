/**
 * The UAPI unix socket server: /var/run/wireguard/<if>.sock, so `wg show <if>` and `wg set <if> ...`
 * from wireguard-tools work against the agent. The directory is created 0755 and the socket is 0600
 * (root only) from the moment it exists: it is created inside a private 0700 directory, chmod'ed there
 * and only then renamed into place (wireguard-go gets the same by listening under umask 0077; the
 * umask is process-wide in Node, so a private directory is the race-free way here). A stale socket
 * file (nobody listening) is replaced; a live one means another process owns the interface name (CG_BUSY).
 */
import { chmod, mkdir, mkdtemp, rename, rmdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ConegateError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import { encodeErrno, encodeGet, parseSet, UAPI_ERRNO, UapiError, type UapiGet, type UapiSet } from './protocol.ts';

/** What the server drives: a device plus whatever owns its key and socket (see host.ts). */
export interface UapiHost {
  get(): UapiGet;
  /** Applies a parsed set request; throws UapiError (its errno goes on the wire). */
  set(request: UapiSet): Promise<void> | void;
}

export const DEFAULT_UAPI_DIR = '/var/run/wireguard';
/** A line longer than this is not from wg (the longest real line is an IPv6 allowed_ip or endpoint). */
const MAX_LINE = 4096;
/** One request's size bound: enough for tens of thousands of allowed IPs, small enough to hold in memory. */
const MAX_REQUEST_BYTES = 4 << 20;

export interface UapiServerOptions {
  /** Socket directory; default /var/run/wireguard. Tests pass a temporary one. */
  dir?: string;
  log?: Logger;
}

export class UapiServer {
  private readonly conns = new Set<Socket>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on `<dir>/<ifname>.sock`. */
  static async listen(ifname: string, host: UapiHost, options: UapiServerOptions = {}): Promise<UapiServer> {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw new ConegateError('CG_CONFIG_INVALID', `bad interface name ${JSON.stringify(ifname)}`);
    const dir = options.dir ?? DEFAULT_UAPI_DIR;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const path = join(dir, `${ifname}.sock`);
    await removeStale(path);
    let self: UapiServer | undefined;
    const server = createServer((sock) => self?.accept(sock, host, options.log));
    // mkdtemp creates the directory 0700: nobody else can reach the socket before it is 0600.
    const privateDir = await mkdtemp(join(dir, `.${ifname}-`));
    const staged = join(privateDir, 'uapi.sock');
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new ConegateError(err.code === 'EADDRINUSE' ? 'CG_BUSY' : 'CG_NETWORK', `cannot listen on ${path}: ${err.code ?? err.message}`, { cause: err })),
        );
        server.listen(staged, () => resolve());
      });
      await chmod(staged, 0o600);
      await rename(staged, path);
    } catch (err) {
      server.close();
      await unlink(staged).catch(() => undefined);
      throw err instanceof ConegateError ? err : new ConegateError('CG_NETWORK', `cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    } finally {
      await rmdir(privateDir).catch(() => undefined);
    }
    // The UAPI socket alone never keeps the agent alive: the device's owner decides when to exit.
    server.unref();
    self = new UapiServer(path, server);
    return self;
  }

  /** Stops listening, drops open connections and removes the socket file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }

  private accept(sock: Socket, host: UapiHost, log: Logger | undefined): void {
    this.conns.add(sock);
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    const session = new UapiSession(host, (text) => sock.write(text), () => sock.end(), log);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => session.feed(chunk));
  }
}

/**
 * One connection's request loop, independent of the socket (tests feed it text). Requests are handled
 * strictly in order; a malformed request gets an errno reply and ends the connection.
 */
export class UapiSession {
  private pending = '';
  private op: 'get' | 'set' | undefined;
  private body: string[] = [];
  private bodyBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    private readonly host: UapiHost,
    private readonly write: (text: string) => void,
    private readonly end: () => void,
    private readonly log?: Logger,
  ) {}

  /** Feeds received text; replies are written as requests complete. */
  feed(chunk: string): void {
    if (this.ended) return;
    this.pending += chunk;
    for (;;) {
      const nl = this.pending.indexOf('\n');
      if (nl < 0) break;
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      this.line(line);
      if (this.ended) return;
    }
    if (this.pending.length > MAX_LINE) this.fail(UAPI_ERRNO.EPROTO, 'line too long');
  }

  /** Resolves when every request received so far has been answered. */
  idle(): Promise<void> {
    return this.chain;
  }

  private line(line: string): void {
    if (line.length > MAX_LINE) return this.fail(UAPI_ERRNO.EPROTO, 'line too long');
    if (this.op === undefined) {
      if (line === 'get=1') this.op = 'get';
      else if (line === 'set=1') this.op = 'set';
      else if (line !== '') this.fail(UAPI_ERRNO.EINVAL, 'unknown operation');
      return;
    }
    if (line !== '') {
      if (this.op === 'get') return this.fail(UAPI_ERRNO.EPROTO, 'get takes no arguments');
      this.bodyBytes += line.length + 1;
      if (this.bodyBytes > MAX_REQUEST_BYTES) return this.fail(UAPI_ERRNO.EPROTO, 'request too large');
      this.body.push(line);
      return;
    }
    const op = this.op;
    const body = this.body;
    this.op = undefined;
    this.body = [];
    this.bodyBytes = 0;
    this.chain = this.chain.then(() => (op === 'get' ? this.doGet() : this.doSet(body)));
  }

  private doGet(): void {
    try {
      this.write(encodeGet(this.host.get()));
    } catch (err) {
      this.log?.warn({ err }, 'uapi get failed');
      this.write(encodeErrno(UAPI_ERRNO.EIO));
    }
  }

  private async doSet(body: string[]): Promise<void> {
    try {
      await this.host.set(parseSet(body));
      this.write(encodeErrno(UAPI_ERRNO.OK));
    } catch (err) {
      const errno = err instanceof UapiError ? err.errno : UAPI_ERRNO.EIO;
      // Only the message: it names the key, never the value (values may be private keys).
      this.log?.warn({ errno, reason: err instanceof Error ? err.message : String(err) }, 'uapi set refused');
      this.write(encodeErrno(errno));
    }
  }

  private fail(errno: number, reason: string): void {
    this.log?.warn({ errno, reason }, 'uapi request refused');
    this.ended = true;
    this.chain = this.chain.then(() => {
      this.write(encodeErrno(errno));
      this.end();
    });
  }
}

/** Removes a socket file nobody listens on; throws CG_BUSY when a live process answers on it. */
async function removeStale(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new ConegateError('CG_BUSY', `${path} is in use by another process (is a WireGuard interface of that name running?)`);
  await unlink(path).catch(() => undefined);
}
