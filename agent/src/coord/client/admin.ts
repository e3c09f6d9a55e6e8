/**
 * The admin CLI's client: JSON over the coordinator's local admin socket (unix). Answers become values;
 * errors become ConegateError with a code the CLI maps to an exit status (no socket: the coordinator is
 * not running or the path is wrong; 4xx: the admin's input; anything else: the operation failed).
 */
import { request } from 'node:http';
import { ConegateError, type CgCode } from '../../errors.ts';

/** Where `coord serve` puts its admin socket unless told otherwise (/var/run exists on Linux and FreeBSD alike). */
export const DEFAULT_ADMIN_SOCKET = '/var/run/conegate/coord-admin.sock';

export interface AdminClientOptions {
  socketPath: string;
  timeoutMs?: number;
}

const STATUS_CODE: Record<number, CgCode> = { 400: 'CG_INPUT_INVALID', 404: 'CG_NOT_FOUND', 409: 'CG_INPUT_INVALID' };

export class AdminClient {
  constructor(private readonly options: AdminClientOptions) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const socketPath = this.options.socketPath;
    return new Promise<T>((resolve, reject) => {
      const req = request({ socketPath, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: any;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            return reject(new ConegateError('CG_COMMAND_FAILED', `the coordinator answered ${res.statusCode} with a body that is not JSON`));
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(parsed as T);
          const message = typeof parsed?.error?.message === 'string' ? parsed.error.message : `HTTP ${status}`;
          reject(new ConegateError(STATUS_CODE[status] ?? 'CG_COMMAND_FAILED', message, { context: { status, code: parsed?.error?.code } }));
        });
      });
      req.setTimeout(this.options.timeoutMs ?? 15_000, () => req.destroy(new ConegateError('CG_TIMEOUT', `the coordinator did not answer on ${socketPath}`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof ConegateError) return reject(err);
        const absent = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
        const denied = err.code === 'EACCES';
        reject(
          new ConegateError(
            denied ? 'CG_NOT_PERMITTED' : 'CG_NETWORK',
            absent ? `no coordinator is listening on ${socketPath} (is \`conegate coord serve\` running? --admin-socket names another path)` : denied ? `no permission to use ${socketPath} (it is 0600: run as the coordinator's user)` : `admin socket ${socketPath}: ${err.message}`,
            { cause: err },
          ),
        );
      });
      req.end(payload);
    });
  }
}
