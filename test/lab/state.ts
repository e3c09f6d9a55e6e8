/**
 * Records of labs left running by `conegate-lab up`, so `down` and `list` find them later.
 * One JSON file per lab in /run/conegate-lab (tmpfs: gone after a reboot, like the namespaces).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execIn } from './proc.ts';
import type { Lab } from './lab.ts';

const STATE_DIR = process.env.CONEGATE_LAB_STATE_DIR ?? '/run/conegate-lab';

export interface LabState {
  id: string;
  createdAt: string;
  namespaces: string[];
}

/** Writes the record of a running lab. */
export function saveLabState(lab: Lab): void {
  mkdirSync(STATE_DIR, { recursive: true });
  const state: LabState = { id: lab.id, createdAt: new Date().toISOString(), namespaces: lab.nodeNames().map((n) => lab.netns(n)) };
  writeFileSync(join(STATE_DIR, `${lab.id}.json`), JSON.stringify(state, null, 2));
}

/** Every recorded lab (unreadable records are skipped). */
export async function listLabs(): Promise<LabState[]> {
  let files: string[] = [];
  try {
    files = readdirSync(STATE_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: LabState[] = [];
  for (const f of files) {
    try {
      out.push(JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as LabState);
    } catch {
      // A half-written record: ignore.
    }
  }
  return out;
}

/** Tears down recorded labs (all, or those ids): kills their namespaces' processes by PID, deletes namespaces. */
export async function downLabs(ids?: string[]): Promise<string[]> {
  const labs = (await listLabs()).filter((l) => ids === undefined || ids.includes(l.id));
  for (const l of labs) {
    for (const ns of l.namespaces) {
      const r = await execIn(null, ['ip', 'netns', 'pids', ns]).catch(() => undefined);
      for (const pid of (r?.stdout ?? '').split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await execIn(null, ['ip', 'netns', 'del', ns]).catch(() => undefined);
    }
    rmSync(join(STATE_DIR, `${l.id}.json`), { force: true });
  }
  return labs.map((l) => l.id);
}
