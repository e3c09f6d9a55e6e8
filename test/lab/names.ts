/**
 * Per-run names. Every namespace of a lab starts with the lab id, which starts with CONEGATE_LAB_PREFIX
 * when set (the test runner's per-run prefix, checked for leftovers). Concurrent test files of one run
 * share that prefix, so the id adds the process id (unique among live processes) and a per-process
 * counter: `<prefix><pid base 36>x<counter>`. Without the variable the prefix is `cl` + 2 random
 * characters, so a namespace left by a killed process cannot block a later one with the same pid.
 */

import { randomInt } from 'node:crypto';

let counter = 0;
// Without a run prefix: `cl` + two random characters, fixed for the process.
const fallbackPrefix = `cl${randomInt(36 * 36).toString(36).padStart(2, '0')}`;

/** A fresh lab id, unique among the labs of all live processes of this run. */
export function newLabId(): string {
  counter += 1;
  const env = process.env.CONEGATE_LAB_PREFIX;
  const prefix = env && /^[a-z0-9]{1,8}$/i.test(env) ? env : fallbackPrefix;
  return `${prefix}${process.pid.toString(36)}x${counter}`;
}

/** Namespace name of a lab node: `<labId>-<node with dots as dashes>`. */
export function netnsName(labId: string, node: string): string {
  return `${labId}-${node.replace(/\./g, '-')}`;
}

/** An interface name unique to this lab (max 15 chars, the kernel's IFNAMSIZ - 1). */
export function uniqueIfname(labId: string, tag: string, n: number): string {
  const name = `${tag}${labId}${n}`;
  if (name.length <= 15) return name;
  // Keep the unique tail (pid and counter) of the id; the run prefix is the part that may go.
  return `${tag.slice(0, 3)}${labId.slice(-(12 - String(n).length))}${n}`.slice(-15);
}
