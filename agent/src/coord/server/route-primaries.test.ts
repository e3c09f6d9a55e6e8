import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteRecord } from '../store/types.ts';
import { movedNodes, planPrimaries, servedRoutes, type PrimaryInput } from './route-primaries.ts';

const LAN = '10.2.0.0/24';
const routes = (...rows: [string, string, boolean][]): RouteRecord[] => rows.map(([nodeId, cidr, approved]) => ({ nodeId, cidr, approved }));

/** Steps with explicit times: who is online, since when the others are offline. */
function world(online: Set<string>, offlineSince: Map<string, number>) {
  return { online: (id: string) => online.has(id), offlineSinceMs: (id: string) => (online.has(id) ? undefined : offlineSince.get(id)) };
}

test('one primary per prefix: an approved, online advertiser; unapproved ones never', () => {
  const w = world(new Set(['nd_b', 'nd_c']), new Map());
  const p = planPrimaries({ routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true], ['nd_c', LAN, false], ['nd_c', '10.3.0.0/24', false]), current: new Map(), nowMs: 0, graceMs: 8000, ...w });
  assert.deepEqual([...p.primaries], [[LAN, 'nd_b']]);
  assert.equal(p.recheckAtMs, undefined);
});

test('with no advertiser online the prefix still goes to one (the first), and moves when one comes online', () => {
  const offline = new Map([['nd_a', 0], ['nd_b', 0]]);
  const online = new Set<string>();
  const base = { routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true]), graceMs: 8000, ...world(online, offline) };
  const p1 = planPrimaries({ ...base, current: new Map(), nowMs: 0 });
  assert.equal(p1.primaries.get(LAN), 'nd_a');
  online.add('nd_b');
  // nd_a has been offline since 0: past the grace the prefix goes to the online one.
  assert.equal(planPrimaries({ ...base, current: p1.primaries, nowMs: 9000 }).primaries.get(LAN), 'nd_b');
});

test('failover: the primary keeps the prefix through the grace, loses it after, and does not take it back', () => {
  const online = new Set(['nd_a', 'nd_b']);
  const offline = new Map<string, number>();
  const base = { routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true]), graceMs: 8000, ...world(online, offline) } satisfies Omit<PrimaryInput, 'current' | 'nowMs'>;
  let cur = planPrimaries({ ...base, current: new Map(), nowMs: 0 }).primaries;
  assert.equal(cur.get(LAN), 'nd_a');
  // t=1000: nd_a's stream goes away.
  online.delete('nd_a');
  offline.set('nd_a', 1000);
  let p = planPrimaries({ ...base, current: cur, nowMs: 1000 });
  assert.equal(p.primaries.get(LAN), 'nd_a', 'kept during the grace');
  assert.equal(p.recheckAtMs, 9000);
  p = planPrimaries({ ...base, current: p.primaries, nowMs: 8999 });
  assert.equal(p.primaries.get(LAN), 'nd_a');
  p = planPrimaries({ ...base, current: p.primaries, nowMs: 9000 });
  assert.equal(p.primaries.get(LAN), 'nd_b', 'moved when the grace ran out');
  assert.equal(p.recheckAtMs, undefined);
  assert.deepEqual(movedNodes(cur, p.primaries), ['nd_a', 'nd_b']);
  cur = p.primaries;
  // nd_a returns: nd_b keeps the prefix (no flapping).
  online.add('nd_a');
  offline.delete('nd_a');
  p = planPrimaries({ ...base, current: cur, nowMs: 20_000 });
  assert.equal(p.primaries.get(LAN), 'nd_b');
  assert.deepEqual(movedNodes(cur, p.primaries), []);
});

test('a primary back within the grace keeps the prefix; a lone offline primary keeps it past the grace', () => {
  const online = new Set(['nd_b']);
  const offline = new Map([['nd_a', 0]]);
  const base = { routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true]), graceMs: 8000, ...world(online, offline) };
  const cur = new Map([[LAN, 'nd_a']]);
  online.add('nd_a');
  assert.equal(planPrimaries({ ...base, current: cur, nowMs: 5000 }).primaries.get(LAN), 'nd_a');
  online.clear();
  offline.set('nd_a', 0).set('nd_b', 0);
  assert.equal(planPrimaries({ ...base, current: cur, nowMs: 60_000 }).primaries.get(LAN), 'nd_a', 'nobody better online: keep');
});

test('a primary whose route is rejected or withdrawn loses it at once', () => {
  const w = world(new Set(['nd_a', 'nd_b']), new Map());
  const cur = new Map([[LAN, 'nd_a']]);
  assert.equal(planPrimaries({ routes: routes(['nd_a', LAN, false], ['nd_b', LAN, true]), current: cur, nowMs: 0, graceMs: 8000, ...w }).primaries.get(LAN), 'nd_b');
  assert.equal(planPrimaries({ routes: routes(['nd_b', LAN, true]), current: cur, nowMs: 0, graceMs: 8000, ...w }).primaries.get(LAN), 'nd_b');
  assert.equal(planPrimaries({ routes: routes(['nd_a', LAN, false]), current: cur, nowMs: 0, graceMs: 8000, ...w }).primaries.size, 0);
});

test('servedRoutes lists a node\'s prefixes sorted; the grace of several primaries rechecks at the earliest end', () => {
  const online = new Set(['nd_c']);
  const offline = new Map([['nd_a', 100], ['nd_b', 50]]);
  const rs = routes(['nd_a', '10.1.0.0/24', true], ['nd_c', '10.1.0.0/24', true], ['nd_b', 'fd00:2::/64', true], ['nd_c', 'fd00:2::/64', true], ['nd_a', '10.0.0.0/24', true]);
  const cur = new Map([['10.1.0.0/24', 'nd_a'], ['fd00:2::/64', 'nd_b'], ['10.0.0.0/24', 'nd_a']]);
  const p = planPrimaries({ routes: rs, current: cur, nowMs: 200, graceMs: 1000, ...world(online, offline) });
  assert.equal(p.recheckAtMs, 1050);
  assert.deepEqual(servedRoutes(p.primaries, 'nd_a'), ['10.0.0.0/24', '10.1.0.0/24']);
});

test('health: a primary whose probe into the prefix fails loses it after the health grace to a healthy online router, not before; never to another unhealthy one', () => {
  const online = new Set(['nd_a', 'nd_b', 'nd_c']);
  const sick = new Map<string, number>();
  const base = {
    routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true], ['nd_c', LAN, true]),
    graceMs: 8000,
    healthGraceMs: 1000,
    unhealthySinceMs: (id: string, cidr: string) => (cidr === LAN ? sick.get(id) : undefined),
    ...world(online, new Map()),
  } satisfies Omit<PrimaryInput, 'current' | 'nowMs'>;
  let cur = planPrimaries({ ...base, current: new Map(), nowMs: 0 }).primaries;
  assert.equal(cur.get(LAN), 'nd_a');
  // nd_a online but its LAN broken (reported at 5000); nd_b broken too.
  sick.set('nd_a', 5000);
  sick.set('nd_b', 5000);
  const during = planPrimaries({ ...base, current: cur, nowMs: 5500 });
  assert.equal(during.primaries.get(LAN), 'nd_a', 'within the health grace');
  assert.equal(during.recheckAtMs, 6000);
  cur = planPrimaries({ ...base, current: cur, nowMs: 6000 }).primaries;
  assert.equal(cur.get(LAN), 'nd_c', 'to the healthy one, skipping the unhealthy nd_b');
  // A fresh plan (coordinator restart) never picks an unhealthy router while a healthy one is online.
  assert.equal(planPrimaries({ ...base, current: new Map(), nowMs: 6000 }).primaries.get(LAN), 'nd_c');
  // Every advertiser unhealthy: the current one keeps it (no flapping between broken routers).
  sick.set('nd_c', 7000);
  assert.equal(planPrimaries({ ...base, current: cur, nowMs: 20_000 }).primaries.get(LAN), 'nd_c');
});

test('health: healthy routers are preferred over the lowest id when the primary goes offline', () => {
  const online = new Set(['nd_b', 'nd_c']);
  const base = {
    routes: routes(['nd_a', LAN, true], ['nd_b', LAN, true], ['nd_c', LAN, true]),
    graceMs: 8000,
    unhealthySinceMs: (id: string) => (id === 'nd_b' ? 0 : undefined),
    ...world(online, new Map([['nd_a', 1000]])),
  } satisfies Omit<PrimaryInput, 'current' | 'nowMs'>;
  assert.equal(planPrimaries({ ...base, current: new Map([[LAN, 'nd_a']]), nowMs: 9000 }).primaries.get(LAN), 'nd_c');
});
