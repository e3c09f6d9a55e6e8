/**
 * An in-process HTTP CONNECT proxy on 127.0.0.1 (no root; the lab tests run Debian's tinyproxy):
 * Basic authentication when `auth` ("user:password") is given (407 otherwise), or hanging up on every
 * request; it records each CONNECT target and how many were authorized.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A CONNECT-only proxy: `auth` = the expected "user:password", or undefined for none; counts what it saw. */
export async function startConnectProxy(auth: string | undefined, mode: 'ok' | 'hang-up' = 'ok') {
  const seen = { connects: [] as string[], authorized: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const [line, ...headers] = buf.slice(0, end).split('\r\n');
      const target = /^CONNECT (\S+) HTTP\/1\.1$/.exec(line ?? '')?.[1] ?? '?';
      seen.connects.push(target);
      if (mode === 'hang-up') return void sock.destroy();
      const got = headers.find((h) => /^proxy-authorization:/i.test(h))?.split(/:\s*Basic\s+/i)[1];
      if (auth !== undefined && got !== Buffer.from(auth).toString('base64')) {
        return void sock.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\nContent-Length: 0\r\n\r\n');
      }
      seen.authorized++;
      const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
      const up = connect(port, host, () => {
        sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
        up.pipe(sock);
        sock.pipe(up);
      });
      sockets.add(up);
      up.on('close', () => (sockets.delete(up), sock.destroy()));
      up.on('error', () => sock.destroy());
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { close, url: (cred?: string) => `http://${cred ? `${cred}@` : ''}127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
