/**
 * The process the durability test kills with SIGKILL: it opens a store and, in a bounded loop, registers
 * a node advertising a route, approves that route and every third round creates an auth key. Each line
 * it prints ("node ID IPV4", "route ID CIDR", "key ID") is written only after the call that made it
 * returned, so a printed line is an acknowledged write.
 *   node --import tsx durability-child.ts sqlite FILE SECRET ROUNDS
 *   node --import tsx durability-child.ts postgres URL SECRET ROUNDS
 */
import { writeSync } from 'node:fs';
import { openSqliteStore } from './sqlite.ts';
import { openPostgresStore } from './postgres.ts';
import { authKey, okNode, regInput } from './compliance-kit.ts';

const [driver, target, secret, roundsText] = process.argv.slice(2);
if (!driver || !target || !secret || !roundsText) {
  process.stderr.write('usage: durability-child.ts sqlite|postgres FILE|URL SECRET ROUNDS\n');
  process.exit(2);
}
const store = driver === 'sqlite' ? await openSqliteStore({ file: target }) : await openPostgresStore({ url: target, poolMax: 2 });
// Synchronous writes to fd 1: nothing sits in a stream buffer when SIGKILL arrives.
const ack = (line: string): void => void writeSync(1, `${line}\n`);
ack('ready');
const rounds = Number(roundsText);
for (let i = 1; i <= rounds; i++) {
  const cidr = `10.${i >> 8}.${i & 255}.0/24`;
  const node = okNode(await store.registerNode(regInput(i, secret, { advertiseRoutes: [cidr], nowMs: Date.now() })));
  ack(`node ${node.id} ${node.ipv4}`);
  await store.setRouteApproval(node.id, cidr, true, Date.now());
  ack(`route ${node.id} ${cidr}`);
  if (i % 3 === 0) {
    await store.createAuthKey(authKey(`ak_d${i}`, `secret-${i}`));
    ack(`key ak_d${i}`);
  }
}
await store.close();
