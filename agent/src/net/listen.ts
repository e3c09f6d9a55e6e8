/**
 * `--listen ADDR:PORT` of the servers (coordinator, relay, STUN). Its own small module so that a
 * server importing it does not load another server's code with it (the relay once carried the whole
 * coordinator, its HTTP framework and store, in memory for this one function).
 */
import { ConegateError } from '../errors.ts';
import { parseIp } from './ip.ts';

export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:\s]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : -1;
  if (!m || !parseIp(m[1]!) || port > 65535) throw new ConegateError('CG_USAGE', `--listen ${text}: expected ADDR:PORT or [IPv6]:PORT with a literal address`);
  return { host: m[1]!, port };
}
