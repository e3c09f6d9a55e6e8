/**
 * One HTTP error type for both coordinator apps (node API and admin socket), and the fastify error
 * handler that turns anything thrown into the protocol's error body `{error: {code, message}}`
 * (protocol.ts ErrorBody): validation failures 400, oversized bodies 413, never a stack trace out.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isConegateError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';
import type { CoordErrorCode, ErrorBody } from '../protocol.ts';

export class CoordHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: CoordErrorCode | 'not-found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code: code as CoordErrorCode, message } };
}

export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | CoordHttpError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof CoordHttpError) {
      if (err.status === 429) void reply.header('retry-after', '1');
      return reply.code(err.status).send(errorBody(err.code, err.message));
    }
    if (err.validation) return reply.code(400).send(errorBody('bad-request', `${err.validationContext ?? 'body'}${err.message.replace(/^(body|querystring|params)/, '')}`));
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send(errorBody('too-large', `request bodies are limited to ${app.initialConfig.bodyLimit} bytes`));
    // The store refuses input it cannot take with CG_INPUT_INVALID: the client's fault, not ours.
    if (isConegateError(err) && err.code === 'CG_INPUT_INVALID') return reply.code(400).send(errorBody('bad-request', err.message));
    const statusCode = (err as FastifyError).statusCode;
    const status = typeof statusCode === 'number' ? statusCode : 500;
    if (status >= 400 && status < 500) return reply.code(status).send(errorBody('bad-request', err.message));
    log.error({ err, url: req.url, method: req.method }, 'coord: request failed');
    return reply.code(500).send(errorBody('internal', 'internal error (logged on the coordinator)'));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('not-found', `no ${req.method} ${req.url.split('?')[0]}`)));
}

/**
 * JSON bodies are read as bytes first: the request signature covers the exact bytes, so they are kept
 * (request.rawBody) before parsing. A parse failure is a 400, never a throw out of the server.
 */
export function installJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const bytes = body as Buffer;
    (req as FastifyRequest & { rawBody?: Buffer }).rawBody = bytes;
    if (bytes.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(bytes.toString('utf8')));
    } catch {
      done(new CoordHttpError(400, 'bad-request', 'the body is not valid JSON'), undefined);
    }
  });
}

export function rawBodyOf(req: FastifyRequest): Buffer {
  return (req as FastifyRequest & { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
}
