/**
 * One request/response exchange over UDP with a retransmission schedule (the edge under the NAT-PMP
 * and PCP clients). The socket is bound to an ephemeral port (never 5350/5351: the npm nat-pmp
 * package's fixed port clashes with a local daemon) and connected to the server, so the kernel drops
 * datagrams from any other source; accept() still checks every reply, so a stray or spoofed packet is
 * ignored and waiting goes on.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock, CancelTimer } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import type { RetransmitSchedule } from './schedule.ts';

export interface UdpExchange<T> {
  clock: Clock;
  server: { address: string; port: number };
  /** The request for send number i (PCP and NAT-PMP resend the same bytes; the index is for counters). */
  request: (localAddress: string, attempt: number) => Uint8Array;
  schedule: RetransmitSchedule;
  /** Returns the decoded reply, or undefined to ignore the datagram (wrong opcode, nonce, junk). */
  accept: (msg: Uint8Array) => T | undefined;
  signal?: AbortSignal;
}

export interface UdpReply<T> {
  value: T;
  /** Our source address towards the server (the PCP client IP, the NAT-PMP mapping's host). */
  localAddress: string;
  /** How many copies were sent. */
  sends: number;
}

/**
 * Runs the exchange. Rejects with CG_TIMEOUT when the schedule runs out, CG_NETWORK when the server
 * host says the port is closed (ICMP port unreachable: the service is not there, no point retrying).
 */
export function udpExchange<T>(x: UdpExchange<T>): Promise<UdpReply<T>> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createSocket({ type: isIPv6(x.server.address) ? 'udp6' : 'udp4' });
    const timers: CancelTimer[] = [];
    let sends = 0;
    let done = false;
    let localAddress = '';
    const finish = (err: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      for (const t of timers) t();
      x.signal?.removeEventListener('abort', onAbort);
      sock.close();
      if (err) reject(err);
      else resolve({ value: value as T, localAddress, sends });
    };
    const onAbort = (): void => finish(new ConegateError('CG_TIMEOUT', 'request aborted'));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const refused = err.code === 'ECONNREFUSED';
      finish(new ConegateError('CG_NETWORK', refused ? `${x.server.address}:${x.server.port} refused (port closed)` : `UDP to ${x.server.address}:${x.server.port}: ${err.message}`, { cause: err, context: { refused } }));
    });
    sock.on('message', (msg) => {
      if (done) return;
      let value: T | undefined;
      try {
        value = x.accept(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
      } catch {
        value = undefined; // junk from the server is ignored like junk from anyone
      }
      if (value !== undefined) finish(undefined, value);
    });
    const send = (): void => {
      if (done) return;
      const bytes = x.request(localAddress, sends);
      sends++;
      sock.send(bytes, (err) => {
        if (err) finish(new ConegateError('CG_NETWORK', `UDP send to ${x.server.address}:${x.server.port}: ${err.message}`, { cause: err }));
      });
    };
    if (x.signal?.aborted) return onAbort();
    x.signal?.addEventListener('abort', onAbort, { once: true });
    sock.bind(0, () => {
      sock.connect(x.server.port, x.server.address, () => {
        if (done) return;
        localAddress = sock.address().address;
        // The first copy goes out now, not on a timer: a FakeClock that is never advanced still sends once.
        for (const at of x.schedule.sendAtMs) {
          if (at <= 0) send();
          else timers.push(x.clock.setTimer(at, send));
        }
        timers.push(x.clock.setTimer(x.schedule.giveUpAtMs, () => finish(new ConegateError('CG_TIMEOUT', `no reply from ${x.server.address}:${x.server.port} after ${sends} tries`))));
      });
    });
  });
}
