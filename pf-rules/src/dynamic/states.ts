/**
 * Parser for `pfctl -ss` (and `-vss`) text, the way pfctl's print_state() writes a state:
 *   <ifname|all> <proto> <wire src> [(<stack src>)] -> <dst> [(<stack dst>)]   <src state>:<dst state>
 * For an outbound state (`->`) the first address is the source on the wire, i.e. after NAT, and the
 * one in parentheses is the original internal source; for inbound (`<-`) the sides are reversed.
 * IPv4 endpoints print as `a.b.c.d:port`, IPv6 as `addr[port]`. With -v, indented lines follow;
 * we read `expires in hh:mm:ss` from them. Lines we do not understand are skipped and counted.
 */
import { parseIp } from '../../../agent/src/net/ip.ts';

export interface Endpoint {
  addr: string;
  port: number;
}

export interface PfState {
  ifname: string;
  proto: string;
  direction: 'out' | 'in';
  /** Outbound: the source as sent on the wire (translated). Inbound: the destination on the wire. */
  wire: Endpoint;
  /** The same endpoint before translation, when it differs (a NAT state). */
  stack?: Endpoint;
  /** The remote endpoint. */
  peer: Endpoint;
  state: string;
  /** Seconds until the state expires, from `-v` output. */
  expiresSec?: number;
}

export interface ParsedStates {
  states: PfState[];
  skipped: number;
}

const EP = String.raw`(?:\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}|[0-9a-fA-F:.]+\[\d{1,5}\])`;
const LINE = new RegExp(String.raw`^(\S+)\s+(\S+)\s+(${EP})(?:\s+\((${EP})\))?\s+(->|<-)\s+(${EP})(?:\s+\((${EP})\))?\s+(\S+)\s*$`);

function endpoint(text: string): Endpoint | undefined {
  const v6 = /^(.*)\[(\d{1,5})\]$/.exec(text);
  const m = v6 ?? /^(.*):(\d{1,5})$/.exec(text);
  if (!m || !parseIp(m[1]!)) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { addr: m[1]!, port } : undefined;
}

/**
 * Reads `pfctl -ss` output one line at a time, so a router with hundreds of thousands of states is
 * never held as one string. `keep` decides which states are stored (the others are only counted);
 * a `-v` detail line belongs to the state line just before it, kept or not.
 */
export class PfStateReader {
  readonly states: PfState[] = [];
  skipped = 0;
  private last: PfState | undefined;

  constructor(private readonly keep: (s: PfState) => boolean = () => true) {}

  push(raw: string): void {
    if (raw.trim() === '') return;
    if (/^\s/.test(raw)) {
      const exp = /expires in (\d+):(\d{2}):(\d{2})/.exec(raw);
      if (exp && this.last) this.last.expiresSec = Number(exp[1]) * 3600 + Number(exp[2]) * 60 + Number(exp[3]);
      return;
    }
    this.last = undefined;
    const m = LINE.exec(raw.trim());
    const a = m && endpoint(m[3]!);
    const aStack = m?.[4] ? endpoint(m[4]) : undefined;
    const b = m && endpoint(m[6]!);
    if (!m || !a || !b || (m[4] && !aStack)) {
      this.skipped++;
      return;
    }
    const st: PfState = { ifname: m[1]!, proto: m[2]!, direction: m[5] === '->' ? 'out' : 'in', wire: a, ...(aStack ? { stack: aStack } : {}), peer: b, state: m[8]! };
    this.last = st;
    if (this.keep(st)) this.states.push(st);
  }

  result(): ParsedStates {
    return { states: this.states, skipped: this.skipped };
  }
}

/** Parses pfctl -ss / -vss output held as text (fixtures, tests). */
export function parsePfStates(text: string): ParsedStates {
  const reader = new PfStateReader();
  for (const raw of text.split('\n')) reader.push(raw);
  return reader.result();
}

/** Whether a state is an outbound UDP state whose source was translated. */
export const isOutboundUdpNat = (s: PfState): boolean => s.proto === 'udp' && s.direction === 'out' && s.stack !== undefined;

/** Outbound UDP states whose source was translated: the sockets the dynamic mode pins. */
export function outboundUdpNat(states: PfState[]): PfState[] {
  return states.filter(isOutboundUdpNat);
}
