/**
 * The subnet router's health probe (issue 18: two routers advertising one prefix "fail over within 10 s,
 * judged by a health probe into the subnet, not only by node online"). Each configured target is a host
 * in an advertised prefix (`mesh.routeHealth.targets`); every `intervalMs` each is probed with a TCP
 * connect: an accept or a refusal (RST) means the host answered, so the router's LAN side works; a
 * timeout, "unreachable" or a local firewall refusal means it does not. A prefix is unhealthy after
 * `failures` rounds in a row in which none of its targets answered, healthy again at the first answer.
 * Each change of the unhealthy set goes to the coordinator (POST /v1/route-health), which moves the
 * prefix to a healthy router advertising it (coord/server/route-primaries.ts).
 *
 * Pure part: `parseTargets` and `HealthTracker`; edge: `tcpProbe` and the `RouteHealth` timer loop on an
 * injected Clock. Prefixes without a target are not probed (judged by the node being online alone).
 */
import { connect } from 'node:net';
import type { CancelTimer, Clock } from '../clock/clock.ts';
import { ConegateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { cidrContains, parseCidr, parseIp } from '../net/ip.ts';

/** TCP port probed when a target names none: most LAN gateways and hosts answer 80 (accept or RST). */
export const DEFAULT_PROBE_PORT = 80;

export interface RouteHealthConfig {
  targets: string[];
  intervalMs: number;
  timeoutMs: number;
  failures: number;
}

export interface ProbeTarget {
  cidr: string;
  host: string;
  port: number;
}

/** "ip", "ip:port" or "[ipv6]:port", each inside exactly one advertised prefix; CG_CONFIG_INVALID otherwise. */
export function parseTargets(targets: readonly string[], advertised: readonly string[]): ProbeTarget[] {
  return targets.map((text) => {
    const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text);
    const host = m ? m[1]! : text;
    const port = m ? Number(m[2]) : DEFAULT_PROBE_PORT;
    const ip = parseIp(host);
    if (!ip || port < 1 || port > 65535) throw new ConegateError('CG_CONFIG_INVALID', `mesh.routeHealth.targets: "${text}" is not "ip", "ip:port" or "[ipv6]:port"`);
    const cidr = advertised.find((c) => {
      const p = parseCidr(c);
      return p !== undefined && p.family === ip.family && cidrContains(p, ip.bytes);
    });
    if (!cidr) throw new ConegateError('CG_CONFIG_INVALID', `mesh.routeHealth.targets: ${host} is in none of the advertised routes (${advertised.join(', ') || 'none'}); the probe must go into an advertised subnet`);
    return { cidr, host, port };
  });
}

/** Per prefix: rounds in a row without any target answering; unhealthy from `failures` on. */
export class HealthTracker {
  private readonly missed = new Map<string, number>();

  constructor(private readonly failures: number) {}

  /** One round's results (prefix -> did any target answer). Returns the unhealthy prefixes, sorted. */
  round(answered: ReadonlyMap<string, boolean>): string[] {
    for (const [cidr, ok] of answered) this.missed.set(cidr, ok ? 0 : (this.missed.get(cidr) ?? 0) + 1);
    for (const cidr of [...this.missed.keys()]) if (!answered.has(cidr)) this.missed.delete(cidr);
    return this.unhealthy();
  }

  unhealthy(): string[] {
    return [...this.missed].filter(([, n]) => n >= this.failures).map(([c]) => c).sort();
  }
}

/**
 * Whether the host answered a TCP connect within `timeoutMs`: connected, or refused (the host's RST).
 * Unreachable, a local firewall's refusal (EPERM/EACCES) or silence: no.
 */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}

export interface RouteHealthDeps {
  clock: Clock;
  log: Logger;
  /** The advertised routes now (targets are checked against them at start). */
  advertised: () => string[];
  probe?: (host: string, port: number, timeoutMs: number) => Promise<boolean>;
  /** A changed unhealthy set (also the first round's, so the coordinator learns the state after a start). */
  report: (unhealthy: string[]) => void;
}

export class RouteHealth {
  private targets: ProbeTarget[] = [];
  private tracker: HealthTracker;
  private cancel: CancelTimer | undefined;
  private running = false;
  private last: string | undefined;
  private rounds = 0;

  constructor(private readonly config: RouteHealthConfig, private readonly deps: RouteHealthDeps) {
    this.tracker = new HealthTracker(config.failures);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.targets = parseTargets(this.config.targets, this.deps.advertised());
    this.running = true;
    this.deps.log.info({ targets: this.targets.map((t) => `${t.host}:${t.port}`), intervalMs: this.config.intervalMs }, 'subnet: health probe into the advertised routes');
    this.schedule(0);
  }

  stop(): Promise<void> {
    this.running = false;
    this.cancel?.();
    this.cancel = undefined;
    return Promise.resolve();
  }

  status(): { targets: string[]; unhealthy: string[]; rounds: number } {
    return { targets: this.targets.map((t) => `${t.host}:${t.port}`), unhealthy: this.tracker.unhealthy(), rounds: this.rounds };
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.cancel = this.deps.clock.setTimer(delayMs, () => void this.round());
  }

  /** One probe per target per round (bounded: at most 16 targets, each with its own timeout). */
  private async round(): Promise<void> {
    const probe = this.deps.probe ?? tcpProbe;
    const results = await Promise.all(this.targets.map((t) => probe(t.host, t.port, this.config.timeoutMs).catch(() => false)));
    if (!this.running) return;
    this.rounds++;
    const answered = new Map<string, boolean>();
    this.targets.forEach((t, i) => answered.set(t.cidr, (answered.get(t.cidr) ?? false) || results[i]!));
    const unhealthy = this.tracker.round(answered);
    const text = unhealthy.join();
    if (text !== this.last) {
      this.last = text;
      if (unhealthy.length) this.deps.log.warn({ unhealthy }, 'subnet: health probe failing; reported to the coordinator');
      else if (this.rounds > 1) this.deps.log.info('subnet: health probe answering again');
      this.deps.report(unhealthy);
    }
    this.schedule(this.config.intervalMs);
  }
}
