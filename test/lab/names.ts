/**
 * Per-run names. Every namespace of a lab starts with the lab id, which starts with CONEGATE_LAB_PREFIX
 * when set (the test runner's per-run prefix, checked for leftovers), so concurrent runs and concurrent
 * test files never collide: the id adds a random part and a per-process counter.
 */
import { randomBytes } from 'node:crypto';

let counter = 0;

function randomBase36(chars: number): string {
  let out = '';
  const bytes = randomBytes(chars);
  for (const b of bytes) out += (b % 36).toString(36);
  return out;
}

/** A fresh lab id: `<prefix><2 random><counter>` with the env prefix, else `cl<4 random><counter>`. */
export function newLabId(): string {
  counter += 1;
  const prefix = process.env.CONEGATE_LAB_PREFIX;
  if (prefix && /^[a-z0-9]{1,8}$/i.test(prefix)) return `${prefix}${randomBase36(2)}${counter}`;
  return `cl${randomBase36(4)}${counter}`;
}

/** Namespace name of a lab node: `<labId>-<node with dots as dashes>`. */
export function netnsName(labId: string, node: string): string {
  return `${labId}-${node.replace(/\./g, '-')}`;
}

/** An interface name unique to this lab (max 15 chars, the kernel's IFNAMSIZ - 1). */
export function uniqueIfname(labId: string, tag: string, n: number): string {
  const name = `${tag}${labId}${n}`;
  if (name.length <= 15) return name;
  return `${tag.slice(0, 3)}${labId.slice(-8)}${n}`.slice(0, 15);
}
