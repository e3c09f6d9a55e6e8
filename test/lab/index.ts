/**
 * The lab's public API in one import: `import { createLab, startReflector } from '../../test/lab/index.ts'`.
 * See README.md beside this file.
 */
export { createLab, destroyAllLabs, Lab, type LabNode } from './lab.ts';
export type { ExecOptions, ExecResult, LabProcess, SpawnOptions } from './proc.ts';
export {
  execProbe,
  listenBehindNat,
  measureNat,
  PROBE,
  probeClient,
  REFLECTOR_PORTS,
  sendUdp,
  spawnProbe,
  startReflector,
  tryDirect,
  type ClientResult,
  type DirectResult,
  type NatListener,
  type NatMeasurement,
} from './measure.ts';
export { LAB_PRESETS, NAT_PRESETS, normalizeSpec, type FilteringType, type IspSpec, type LabSpec, type MappingType, type NatPresetName, type NatSpec, type SiteSpec } from './spec.ts';
export { NatBox, predictDirect } from './model.ts';
export { routerRuleset, LAB_TABLE } from './nat-rules.ts';
