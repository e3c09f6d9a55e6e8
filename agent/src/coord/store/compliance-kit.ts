/**
 * Helpers shared by the compliance suite's files and the driver-specific tests (durability, PostgreSQL
 * replicas): a harness type, sample inputs with deterministic keys, and a store-scoped test wrapper.
 */
import assert from 'node:assert/strict';
import { hashSecret } from './rules.ts';
import type { AuthKeyRecord, ChangeRecord, CoordStore, RegisterInput, RegisterResult } from './types.ts';

export interface StoreHarness {
  /** A migrated store over this harness's database. */
  open(): Promise<CoordStore>;
  /** Drops the database (every instance is closed by then). */
  dispose(): Promise<void>;
}

export const PREFIX4 = '100.64.0.0/10';
export const PREFIX6 = 'fd7a:115c:a1e0::/48';
export const T0 = 1_800_000_000_000;

/** A 64-hex key that differs per `n` and `salt`. */
export function hexKey(n: number, salt = 'a'): string {
  return hashSecret(`${salt}:${n}`);
}

export function authKey(id: string, secret: string, over: Partial<AuthKeyRecord> = {}): AuthKeyRecord {
  return {
    id,
    secretSha256: hashSecret(secret),
    reusable: false,
    tags: [],
    createdAtMs: T0,
    expiresAtMs: null,
    usedAtMs: null,
    revokedAtMs: null,
    uses: 0,
    ...over,
  };
}

export function regInput(n: number, secret: string, over: Partial<RegisterInput> = {}): RegisterInput {
  return {
    machineKey: hexKey(n, 'machine'),
    nodeKey: hexKey(n, 'node'),
    discoKey: hexKey(n, 'disco'),
    hostname: `host${n}`,
    authKeySecret: secret,
    advertiseRoutes: [],
    prefix4: PREFIX4,
    prefix6: PREFIX6,
    nowMs: T0 + n,
    ...over,
  };
}

export function okNode(r: RegisterResult): Extract<RegisterResult, { ok: true }>['node'] {
  assert.ok(r.ok, `registration refused: ${JSON.stringify(r)}`);
  return r.node;
}

/** The changes one step appended, without seq and time (those are checked where they matter). */
export async function appended(s: CoordStore, step: () => Promise<unknown>): Promise<Omit<ChangeRecord, 'seq' | 'atMs'>[]> {
  const before = await s.latestSeq();
  await step();
  return (await s.changesSince(before, 1000)).map(({ nodeId, kind, fields }) => ({ nodeId, kind, fields }));
}

/** Runs `fn` against a fresh store of the harness, then closes and disposes whatever it opened. */
export async function withStore(make: () => Promise<StoreHarness>, fn: (s: CoordStore, h: StoreHarness) => Promise<void>): Promise<void> {
  const h = await make();
  const opened: CoordStore[] = [];
  const tracked: StoreHarness = {
    open: async () => {
      const s = await h.open();
      opened.push(s);
      return s;
    },
    dispose: () => h.dispose(),
  };
  try {
    await fn(await tracked.open(), tracked);
  } finally {
    for (const s of opened) await s.close().catch(() => undefined);
    await h.dispose();
  }
}
