/** `conegate stun serve|probe`: a small RFC 8489/5780 STUN server, and a one-shot Binding client. */
import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { realClock } from '../../clock/clock.ts';
import { ConegateError } from '../../errors.ts';
import { parseHostPort, parseIp } from '../../net/ip.ts';
import { familyOf, type UdpEndpoint } from '../../stun/bind.ts';
import { StunClient } from '../../stun/client.ts';
import { formatStunAddress } from '../../stun/codec.ts';
import { openDgramBind } from '../../stun/dgram-bind.ts';
import { StunServer, type StunServerGroup } from '../../stun/server.ts';
import { integerArg, printResult } from '../context.ts';
import { DEFAULT_STUN_LIMITS } from '../../stun/ratelimit.ts';
import { resolveEndpoint } from '../../netcheck/resolve.ts';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** ADDR:PORT with a literal IP (v6 in brackets); CG_USAGE otherwise. */
export function parseIpPort(text: string, what: string): UdpEndpoint {
  // Port 0 is allowed here (the OS picks one), which is why this is not parseHostPort.
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(text);
  const ip = m ? parseIp(m[1]!) : undefined;
  const port = m ? Number(m[2]) : -1;
  if (!m || !ip || port > 65535 || (ip.family === 6) !== text.startsWith('[')) {
    throw new ConegateError('CG_USAGE', `${what} must be IP:PORT or [IPv6]:PORT, not "${text}"`);
  }
  return { address: m[1]!, port };
}

/** Pairs each --other with the --listen of the same family (RFC 5780 alternates share the family). */
export function serverGroups(listen: string[], other: string[]): StunServerGroup[] {
  const groups: StunServerGroup[] = listen.map((l) => ({ primary: parseIpPort(l, '--listen') }));
  for (const o of other.map((t) => parseIpPort(t, '--other'))) {
    const same = groups.filter((g) => familyOf(g.primary.address) === familyOf(o.address));
    if (same.length !== 1) throw new ConegateError('CG_USAGE', `--other ${formatStunAddress(o)} needs exactly one --listen of its address family (found ${same.length})`);
    if (same[0]!.other) throw new ConegateError('CG_USAGE', `two --other addresses for the same address family`);
    same[0]!.other = o;
  }
  return groups;
}

export function stunCommand(): Command {
  const cmd = new Command('stun').description('STUN server and client (RFC 8489, RFC 5780 NAT behaviour discovery)');

  cmd
    .command('serve')
    .description('answer STUN Binding requests; with --other, bind the four RFC 5780 sockets and honour CHANGE-REQUEST')
    .option('--listen <addr:port>', 'address to answer on, required: no wildcard default (repeatable, one per family with --other)', collect, [])
    .option('--other <addr:port>', 'RFC 5780 alternate address AND port for the --listen of the same family (repeatable); without it CHANGE-REQUEST gets 420', collect, [])
    .option('--rate-per-source <n>', `answers per second to one IPv4 address or IPv6 /64 (burst twice that; default ${DEFAULT_STUN_LIMITS.perSource.perSec})`, integerArg(1, 100000))
    .option('--rate-total <n>', `answers per second overall (burst twice that; default ${DEFAULT_STUN_LIMITS.overall.perSec})`, integerArg(1, 1000000))
    .option('--json', 'print the bound endpoints as one JSON document on stdout once listening')
    .action(async (opts: { listen: string[]; other: string[]; ratePerSource?: number; rateTotal?: number; json?: boolean }) => {
      // No default address: a STUN server answers strangers, so where it does is the operator's choice.
      if (opts.listen.length === 0) throw new ConegateError('CG_USAGE', 'give --listen ADDR:PORT (the addresses to answer on; there is no wildcard default)');
      const groups = serverGroups(opts.listen, opts.other);
      const perSource = opts.ratePerSource ?? DEFAULT_STUN_LIMITS.perSource.perSec;
      const overall = opts.rateTotal ?? DEFAULT_STUN_LIMITS.overall.perSec;
      const limits = { ...DEFAULT_STUN_LIMITS, perSource: { perSec: perSource, burst: 2 * perSource }, overall: { perSec: overall, burst: 2 * overall } };
      const server = new StunServer(groups, { openBind: openDgramBind, limits });
      await server.start();
      const listening = server.endpoints.map(formatStunAddress);
      printResult(opts.json === true, { listening }, () => `listening on ${listening.join(', ')}`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.off('SIGINT', done);
          process.off('SIGTERM', done);
          resolve();
        };
        process.on('SIGINT', done);
        process.on('SIGTERM', done);
      });
      await server.stop();
      process.stderr.write(`stun serve: stopped (answered ${server.stats.answered}, changed ${server.stats.changed}, errors ${server.stats.errors}, dropped ${server.stats.dropped}, rate-limited ${server.stats.limited})\n`);
    });

  cmd
    .command('probe')
    .description('send one Binding request (RFC 8489 retransmissions) and print the mapped address')
    .argument('<server>', 'STUN server host:port')
    .option('--bind <addr>', 'local address to send from (default: any of the server\'s family)')
    .option('--change-ip', 'RFC 5780 CHANGE-REQUEST: answer from the other IP (needs --expect-from)')
    .option('--change-port', 'RFC 5780 CHANGE-REQUEST: answer from the other port (needs --expect-from)')
    .option('--expect-from <addr:port>', 'where the answer must come from (default: the server)')
    .option('--timeout-ms <ms>', 'give up after this long (100..600000)', integerArg(100, 600000), 39500)
    .option('--json', 'machine-readable output')
    .action(async (target: string, opts: { bind?: string; changeIp?: boolean; changePort?: boolean; expectFrom?: string; timeoutMs: number; json?: boolean }) => {
      const hp = parseHostPort(target);
      if (!hp) throw new ConegateError('CG_USAGE', `server must be HOST:PORT, not "${target}"`);
      const timeoutMs = opts.timeoutMs;
      const server = (await resolveEndpoint(hp.host, hp.port))[0]!;
      const bind = await openDgramBind(opts.bind ?? (familyOf(server.address) === 6 ? '::' : '0.0.0.0'));
      const client = new StunClient({ bind, clock: realClock, randomBytes: (n) => randomBytes(n), software: 'conegate' });
      try {
        const o = await client.binding(server, {
          ...(opts.changeIp ? { changeIp: true } : {}),
          ...(opts.changePort ? { changePort: true } : {}),
          ...(opts.expectFrom ? { expectFrom: parseIpPort(opts.expectFrom, '--expect-from') } : {}),
          retransmit: { rtoMs: 500, rc: 7, rm: 16, deadlineMs: timeoutMs },
        });
        const out = { server: formatStunAddress(server), local: formatStunAddress(bind.local), ...o };
        printResult(opts.json === true, out, () =>
          o.ok
            ? `mapped ${formatStunAddress(o.mapped)} (rtt ${o.rttMs.toFixed(1)} ms${o.otherAddress ? `, other ${formatStunAddress(o.otherAddress)}` : ''}${o.software ? `, server ${o.software}` : ''})`
            : `no answer: ${o.reason}${'error' in o ? ` ${o.error.code} ${o.error.reason}` : ''}`,
        );
        if (!o.ok) process.exitCode = 1;
      } finally {
        client.close();
        await bind.close();
      }
    });
  return cmd;
}
