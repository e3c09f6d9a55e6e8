/**
 * Start-up of the NAT-PMP/PCP server against what it finds: the saved state (state.ts) and the rules
 * actually in the firewall. The epoch may continue only if nothing can have been lost while we were
 * away (RFC 6886 3.6, RFC 6887 8.5: a client that sees the epoch continue trusts its mappings):
 * a clean stop, the same backend and WAN address, and every saved mapping still installed. Anything
 * else is a reason, and the caller starts a new epoch with an empty table. Split from core.ts, which
 * serves requests; this decides what the server starts from.
 */
import type { PortMapBackend } from '../fw/backend.ts';
import { readState, restore, snapshot, writeStateAtomic } from './state.ts';
import type { Mapping } from './table.ts';

export type Recovery = { kind: 'restored'; mappings: Mapping[]; epochSec: number } | { kind: 'lost'; reason: string };

export interface RecoveryInput {
  stateFile: string | undefined;
  backend: PortMapBackend;
  externalAddress: string | undefined;
  nowMs: number;
  wallNowMs: number;
}

/** Reads the saved state and checks it against the firewall; never throws (an unreadable file is a reason). */
export async function recoverSaved(i: RecoveryInput): Promise<Recovery> {
  if (!i.stateFile) return { kind: 'lost', reason: 'no state file' };
  try {
    const s = await readState(i.stateFile);
    if (!s) return { kind: 'lost', reason: 'no saved state' };
    if (!s.clean) return { kind: 'lost', reason: 'previous run did not stop cleanly' };
    if (s.backend !== i.backend.name) return { kind: 'lost', reason: `backend changed from ${s.backend}` };
    if (s.externalAddress !== i.externalAddress) return { kind: 'lost', reason: 'WAN address changed while stopped' };
    const r = restore(s, i.nowMs, i.wallNowMs);
    const installed = await i.backend.list();
    const ids = new Set(installed.map((m) => m.id));
    if (!r.mappings.every((m) => ids.has(m.id))) return { kind: 'lost', reason: 'firewall lost mappings while stopped' };
    // Rules of ours that the table does not know (expired while we were away) go now.
    const kept = new Set(r.mappings.map((m) => m.id));
    for (const m of installed.filter((x) => !kept.has(x.id))) await i.backend.remove(m.id);
    return { kind: 'restored', mappings: r.mappings, epochSec: r.epochSec };
  } catch (err) {
    return { kind: 'lost', reason: `state unreadable: ${(err as Error).message}` };
  }
}

export interface SaveInput {
  stateFile: string;
  mappings: Mapping[];
  epochSec: number;
  nowMs: number;
  wallNowMs: number;
  clean: boolean;
  externalAddress: string | undefined;
  backend: string;
}

/** Writes the state atomically (0600); the error is returned for the caller to log, never thrown. */
export async function saveState(i: SaveInput): Promise<Error | undefined> {
  const { stateFile, ...rest } = i;
  try {
    await writeStateAtomic(stateFile, snapshot(rest));
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
