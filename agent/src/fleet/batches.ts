/**
 * Rollout batches with Ansible's meanings (executor/playbook_executor.py _get_serialized_batches,
 * utils/helpers.py pct_to_int, plugins/strategy/linear.py):
 * - `--serial 1,10%,100%`: batch sizes in order, the last one repeating; a percentage is of ALL the
 *   selected hosts (not of those left), rounded down, at least 1; 0 means "every host left".
 * - `--max-fail-percentage P` is per batch: the rollout stops when the batch's failures EXCEED P percent
 *   of its size (equal is not enough). Whatever P is, a batch in which every host failed stops it, which
 *   is what makes a first batch of 1 a canary.
 * - `--forks N`: at most N hosts of a batch are worked on at once.
 */
import { ConegateError } from '../errors.ts';

export type SerialItem = { count: number } | { percent: number };

export interface RolloutPolicy {
  serial: SerialItem[];
  forks: number;
  /** undefined = no percentage limit (only an all-failed batch stops the rollout). */
  maxFailPercentage?: number;
}

export const DEFAULT_FORKS = 5; // Ansible's default forks

function usage(message: string): never {
  throw new ConegateError('CG_USAGE', message);
}

/** Parses `1,10%,100%`; an empty list (or no --serial) is one batch of every host. */
export function parseSerial(text: string): SerialItem[] {
  const items = text.split(',').map((s) => s.trim());
  if (text.trim() === '') return [];
  return items.map((s) => {
    const m = /^(\d{1,9})(%?)$/.exec(s);
    if (!m) usage(`--serial: '${s}' is not a count or a percentage (e.g. 1,10%,100%)`);
    return m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
  });
}

export function parseMaxFailPercentage(text: string): number {
  if (!/^\d{1,3}(\.\d+)?$/.test(text.trim()) || Number(text) > 100) usage(`--max-fail-percentage: expected a number 0..100, got '${text}'`);
  return Number(text);
}

export function parseForks(text: string): number {
  if (!/^\d{1,5}$/.test(text.trim()) || Number(text) < 1) usage(`--forks: expected a whole number of at least 1, got '${text}'`);
  return Number(text);
}

/** pct_to_int: a percentage of total, rounded down, at least 1. */
export function batchSize(item: SerialItem, total: number): number {
  if ('count' in item) return item.count;
  return Math.floor((item.percent * total) / 100) || 1;
}

/** Splits hosts into batches; every host appears exactly once, in the given order. */
export function makeBatches<T>(hosts: readonly T[], serial: readonly SerialItem[]): T[][] {
  const list = serial.length ? serial : [{ count: 0 }];
  const out: T[][] = [];
  let at = 0;
  let i = 0;
  while (at < hosts.length) {
    const size = batchSize(list[i]!, hosts.length);
    const take = size <= 0 ? hosts.length - at : size;
    out.push(hosts.slice(at, at + take));
    at += take;
    i = Math.min(i + 1, list.length - 1);
  }
  return out;
}

/** Whether the rollout stops after a batch with `failed` of `size` hosts failed. */
export function batchStopsRollout(size: number, failed: number, maxFailPercentage?: number): boolean {
  if (size > 0 && failed >= size) return true;
  // Integer form of failed/size > P/100, so 1 of 10 against P=10 is not a stop.
  return maxFailPercentage !== undefined && failed * 100 > maxFailPercentage * size;
}

/** Hosts of a batch in waves of at most `forks`, for display and for an executor without a pool. */
export function forkWaves<T>(batch: readonly T[], forks: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < batch.length; i += forks) out.push(batch.slice(i, i + forks));
  return out;
}
