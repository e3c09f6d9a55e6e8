// Hole punching across every pair of NAT presets in the lab agrees with the pure model, and the
// well-known cells hold: two port-restricted NATs connect, symmetric and port-restricted do not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab } from './lab.ts';
import { formatGrid, gridSpec, runGrid, type GridCell } from './grid.ts';

describe('NAT-pair grid (lab vs model)', () => {
  let lab: Lab;
  let cells: GridCell[];
  before(async () => {
    lab = await createLab(gridSpec());
    cells = await runGrid(lab);
  });
  after(() => lab?.destroy());

  it('covers every unordered pair of presets', () => {
    assert.equal(cells.length, 15);
  });

  it('the model predicts every measured cell', () => {
    const bad = cells.filter((c) => c.measured !== c.predicted);
    assert.deepEqual(bad, [], formatGrid(cells).join('\n'));
  });

  it('known cells: cone NATs connect, symmetric needs an endpoint-independent-filtering or cone peer', () => {
    const cell = (a: string, b: string) => cells.find((c) => (c.a === a && c.b === b) || (c.a === b && c.b === a))!.measured;
    assert.equal(cell('port-restricted', 'port-restricted'), true);
    assert.equal(cell('full-cone', 'symmetric'), true);
    assert.equal(cell('restricted-cone', 'symmetric'), true);
    assert.equal(cell('port-restricted', 'symmetric'), false);
    assert.equal(cell('symmetric', 'symmetric'), false);
  });
});
