/** Asking the running agent over its control socket: one request, one answer, bounded in time. */
import { createConnection } from 'node:net';
import { ConegateError, EXIT_STATUS, type CgCode } from '../errors.ts';
import type { ControlCommand, ControlResponse } from './control-protocol.ts';

export async function controlRequest(path: string, cmd: ControlCommand, timeoutMs = 10_000, params: Record<string, unknown> = {}): Promise<unknown> {
  const res = await new Promise<ControlResponse>((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ConegateError('CG_TIMEOUT', `the agent did not answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => sock.write(JSON.stringify({ ...params, id: 1, cmd }) + '\n'));
    sock.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ControlResponse);
      } catch (cause) {
        reject(new ConegateError('CG_INTERNAL', 'the agent answered something that is not JSON', { cause }));
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new ConegateError('CG_NOT_RUNNING', `conegate is not running (no agent on ${path}); start it with conegate up`));
      else if (err.code === 'EACCES') reject(new ConegateError('CG_NOT_PERMITTED', `no access to ${path}: run as root`));
      else reject(new ConegateError('CG_NETWORK', `control socket ${path}: ${err.message}`, { cause: err }));
    });
    sock.once('close', () => {
      clearTimeout(timer);
      reject(new ConegateError('CG_NETWORK', `the agent closed ${path} without answering`));
    });
  });
  if (res.ok) return res.result;
  const code = (res.error.code in EXIT_STATUS ? res.error.code : 'CG_INTERNAL') as CgCode;
  throw new ConegateError(code, res.error.message);
}
