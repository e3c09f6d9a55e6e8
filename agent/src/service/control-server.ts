/**
 * The control socket server: a unix socket, 0600 and owned by the agent's user (root), created under a
 * 077 umask so it is never reachable by others even for an instant. Every other command (status, down,
 * logout, pmp list) and the GUI talk to the running agent here instead of reading its state files.
 * Bounded: request lines (MAX_REQUEST_BYTES), connections (MAX_CONNECTIONS), idle time per connection.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConegateError, isConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { MAX_REQUEST_BYTES, parseControlRequest, type ControlCommand, type ControlRequest, type ControlResponse } from './control-protocol.ts';

export type ControlHandlers = Record<ControlCommand, (req: ControlRequest) => Promise<unknown> | unknown>;

const MAX_CONNECTIONS = 32;
const IDLE_MS = 30_000;

/** Is something answering on this socket path? (A stale file from a crash is not.) */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly path: string, private readonly handlers: ControlHandlers, private readonly log: Logger) {}

  static async listen(path: string, handlers: ControlHandlers, log: Logger): Promise<ControlServer> {
    const cs = new ControlServer(path, handlers, log);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    if (await socketAlive(path)) throw new ConegateError('CG_BUSY', `another conegate agent answers on ${path}; stop it first (conegate down)`);
    await rm(path, { force: true });
    const server = createServer((s) => cs.accept(s));
    server.maxConnections = MAX_CONNECTIONS;
    const old = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new ConegateError('CG_NETWORK', `cannot listen on ${path}: ${err.message}`, { cause: err })));
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    await chmod(path, 0o600);
    cs.server = server;
    return cs;
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    let busy = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        busy = busy.then(() => this.answer(sock, line));
      }
      if (buf.length > MAX_REQUEST_BYTES) {
        this.write(sock, { ok: false, error: { code: 'CG_INPUT_INVALID', message: `request longer than ${MAX_REQUEST_BYTES} bytes` } });
        sock.end();
        buf = '';
      }
    });
  }

  private write(sock: Socket, res: ControlResponse): void {
    if (!sock.destroyed) sock.write(JSON.stringify(res) + '\n');
  }

  private async answer(sock: Socket, line: string): Promise<void> {
    if (!line.trim()) return;
    let id: number | undefined;
    try {
      const req = parseControlRequest(line);
      id = req.id;
      const result = await this.handlers[req.cmd](req);
      this.write(sock, { ...(id === undefined ? {} : { id }), ok: true, result: result ?? null });
    } catch (err) {
      const code = isConegateError(err) ? err.code : 'CG_INTERNAL';
      if (!isConegateError(err)) this.log.error({ err: (err as Error).message }, 'control: request failed');
      this.write(sock, { ...(id === undefined ? {} : { id }), ok: false, error: { code, message: (err as Error).message } });
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
