/**
 * The NAT-pair grid: for every pair of NAT presets, does simultaneous UDP hole punching between a host
 * behind one and a host behind the other work? Measured in the lab, side by side with the pure model's
 * prediction (model.ts), so a disagreement shows up as a lab or a model bug.
 */
import type { Lab } from './lab.ts';
import { startReflector, tryDirect } from './measure.ts';
import { predictDirect } from './model.ts';
import { NAT_PRESETS, type LabSpec, type NatPresetName } from './spec.ts';

export const GRID_PRESETS = Object.keys(NAT_PRESETS) as NatPresetName[];

/** Two sites per preset (`g<i>x`, `g<i>y`) so that a preset can be paired with itself. */
export function gridSpec(presets: NatPresetName[] = GRID_PRESETS): LabSpec {
  return {
    sites: presets.flatMap((p, i) => [
      { name: `g${i + 1}x`, nat: p },
      { name: `g${i + 1}y`, nat: p },
    ]),
    servers: ['s1'],
  };
}

export interface GridCell {
  a: NatPresetName;
  b: NatPresetName;
  measured: boolean;
  predicted: boolean;
  aReceived: number;
  bReceived: number;
}

/** Runs every unordered pair (a <= b), `parallel` pairs at a time, on a lab built from gridSpec(presets). */
export async function runGrid(lab: Lab, presets: NatPresetName[] = GRID_PRESETS, opts: { parallel?: number } = {}): Promise<GridCell[]> {
  await startReflector(lab, 's1');
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < presets.length; i++) for (let j = i; j < presets.length; j++) pairs.push([i, j]);
  const cells: GridCell[] = [];
  let next = 0;
  const worker = async () => {
    while (next < pairs.length) {
      const n = next++;
      const [i, j] = pairs[n]!;
      const a = presets[i]!;
      const b = presets[j]!;
      // A local port per pair: a host takes part in several pairs and old flows keep their mappings.
      const r = await tryDirect(lab, `g${i + 1}x.h1`, `g${j + 1}y.h1`, 52000 + n);
      cells.push({ a, b, measured: r.ok, predicted: predictDirect([NAT_PRESETS[a]], [NAT_PRESETS[b]]), aReceived: r.aReceived, bReceived: r.bReceived });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 4) }, worker));
  return cells;
}

/** The grid as text: one row per preset, "ok" / "--" per column, "!" where lab and model disagree. */
export function formatGrid(cells: GridCell[], presets: NatPresetName[] = GRID_PRESETS): string[] {
  const width = Math.max(...presets.map((p) => p.length)) + 2;
  const lines = ['direct UDP (hole punching) between hosts behind each pair of NATs: ok = works, -- = needs a relay', ''];
  lines.push(' '.repeat(width) + presets.map((_, i) => `  ${String(i + 1).padEnd(3)}`).join(''));
  presets.forEach((row, i) => {
    const marks = presets.map((col) => {
      const c = cells.find((x) => (x.a === row && x.b === col) || (x.a === col && x.b === row));
      if (!c) return '  ?  ';
      return `  ${c.measured ? 'ok' : '--'}${c.measured === c.predicted ? ' ' : '!'}`;
    });
    lines.push(`${`${i + 1} ${row}`.padEnd(width)}${marks.join('')}`);
  });
  const bad = cells.filter((c) => c.measured !== c.predicted);
  lines.push('', bad.length === 0 ? 'the pure model (test/lab/model.ts) predicts every cell' : `model disagrees (!) on: ${bad.map((c) => `${c.a} x ${c.b}`).join(', ')}`);
  return lines;
}
