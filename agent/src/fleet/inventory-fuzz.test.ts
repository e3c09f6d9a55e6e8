/** Any input gives hosts or a ConegateError: never a TypeError, RangeError or a hang. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConegateError } from '../errors.ts';
import { parseInventoryText } from './load.ts';
import { selectHosts } from './pattern.ts';
import { resolveAll } from './resolve.ts';

const PIECES = ['[', ']', ':', 'children', 'vars', '=', ' ', '\n', 'g', 'h', '[1:3]', '[a:c]', '"', "'", '#', 'all', 'ungrouped', 'hosts', 'ansible_port', '99999', '-', '{', '}', 'conegateFleet', '1', '~', '!', '&', '*', ',', '  '];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }).map((p) => p.join(''));

function onlyOurErrors(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ConegateError)) throw e;
  }
}

test('INI, YAML and own-form parsing, resolving and patterns: only ConegateError on bad input', () => {
  fc.assert(
    fc.property(text, text, fc.constantFrom('inv', 'inv.yml', 'inv.json'), (body, pattern, file) => {
      onlyOurErrors(() => {
        const m = parseInventoryText(body, file);
        resolveAll(m);
        onlyOurErrors(() => selectHosts(m, pattern));
      });
    }),
    { numRuns: 3000 },
  );
  assert.ok(true);
});
