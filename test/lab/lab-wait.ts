/**
 * What the mesh lab tests share to watch agents: a bounded wait for a condition (never a fixed sleep),
 * `conegate status --json` of an agent in its namespace, and one ping.
 */
import assert from 'node:assert/strict';
import type { Lab } from './lab.ts';

/**
 * Polls `fn` every `everyMs` until it returns a value (not undefined) and returns it; an error thrown by
 * `fn` counts as "not yet" and is named in the failure if time runs out.
 */
export async function labWaitFor<T>(what: string | (() => string), fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}${last ? `: ${String(last)}` : ''}`);
}

/** `conegate status --json` of the agent running on `node` with `config` (the shipped bundle). */
export async function agentStatus<S>(lab: Lab, node: string, config: string): Promise<S> {
  const r = await lab.execConegate(node, ['status', '--json', '--config', config], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`status on ${node}: ${r.stderr}`);
  return JSON.parse(r.stdout) as S;
}

/** One ICMP echo from `from` to `to` (1 s to answer). */
export async function pingOnce(lab: Lab, from: string, to: string): Promise<boolean> {
  return (await lab.exec(from, ['ping', '-c1', '-W1', to], { timeoutMs: 5000 })).code === 0;
}
