import { createLab } from './lab.ts';
import { startReflector, measureNat } from './measure.ts';
const lab = await createLab({ sites: [
  { name: 'a', nat: { mapping: 'eim', filtering: 'eif' } },
  { name: 'b', nat: { mapping: 'eim', filtering: 'adf' } },
  { name: 'c', nat: { mapping: 'eim', filtering: 'apdf' } },
  { name: 'd', nat: { mapping: 'adm', filtering: 'adf' } },
  { name: 'e', nat: { mapping: 'apdm', filtering: 'apdf' } },
  { name: 'f', nat: { mapping: 'apdm', filtering: 'eif' } },
] });
try {
  const t0 = performance.now();
  await Promise.all([startReflector(lab, 's1'), startReflector(lab, 's2')]);
  console.log('refl', performance.now() - t0);
  const res = await Promise.all(['a','b','c','d','e','f'].map((s) => measureNat(lab, `${s}.h1`, 's1', 's2')));
  res.forEach((m, i) => console.log(i, lab.node(`${'abcdef'[i]}.router`).nat, JSON.stringify(m)));
  console.log('measure', performance.now() - t0);
} finally { await lab.destroy(); }
