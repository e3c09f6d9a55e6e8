/**
 * `ips check`: find the IPS configuration of this appliance (or a copied tree), judge every enabled
 * rule against our traffic, and report what blocks and how to fix it. Each unreadable or malformed
 * file becomes one error in the report; the rest is still checked.
 */
import { stat } from 'node:fs/promises';
import { detectPlatform } from '../platform/detect.ts';
import { ConegateError } from '../errors.ts';
import type { IpsReport } from './findings.ts';
import { ourTraffic } from './traffic.ts';
import { RootFs } from './platforms/rootfs.ts';
import type { CheckContext, PlatformResult } from './platforms/context.ts';
import { checkOpnsense } from './platforms/opnsense.ts';
import { checkPfsense, readPfsenseConfig } from './platforms/pfsense.ts';
import { checkUnifi } from './platforms/unifi.ts';

export interface CheckOptions {
  root: string;
  meshPorts: number[];
  relayPorts: number[];
}

const SEVERITY_ORDER = { blocks: 0, 'may-block': 1, 'alert-only': 2 } as const;

/** Runs the check; throws only when the root itself is unusable (CG_INPUT_INVALID). */
export async function checkIps(opts: CheckOptions): Promise<IpsReport> {
  try {
    if (!(await stat(opts.root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new ConegateError('CG_INPUT_INVALID', `--root ${opts.root} is not a readable directory`);
  }
  const info = await detectPlatform(opts.root);
  const fs = new RootFs(opts.root);
  const ctx: CheckContext = { fs, samples: ourTraffic({ meshPorts: opts.meshPorts, relayPorts: opts.relayPorts }), meshPorts: opts.meshPorts, relayPorts: opts.relayPorts };
  const results: PlatformResult[] = [];
  let kind: string = info.kind;
  if (kind !== 'opnsense' && kind !== 'pfsense' && kind !== 'unifi') kind = await guessFromFiles(fs);
  if (kind === 'opnsense') results.push(await checkOpnsense(ctx));
  else if (kind === 'pfsense') results.push(await checkPfsense(ctx, await readPfsenseConfig(ctx)));
  else if (kind === 'unifi') results.push(await checkUnifi(ctx));
  const findings = results.flatMap((r) => r.findings).sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.sid ?? 0) - (b.sid ?? 0));
  return {
    platform: kind === info.kind || kind === 'none' ? info.name : `${kind} (from its IPS files; platform markers say ${info.kind})`,
    root: opts.root,
    instances: results.flatMap((r) => r.instances),
    findings,
    errors: fs.errors,
    blocking: findings.some((f) => f.severity !== 'alert-only'),
    complete: fs.errors.length === 0,
  };
}

/** A tree without platform markers (e.g. only the config and rule files were copied). */
async function guessFromFiles(fs: RootFs): Promise<string> {
  for (const p of ['/conf/config.xml', '/cf/conf/config.xml']) {
    const text = await fs.text(p);
    const root = text ? /<(opnsense|pfsense)[\s>]/.exec(text) : null;
    if (root) return root[1]!;
  }
  if ((await fs.exists('/data/udapi-config')) || (await fs.exists('/run/ips'))) return 'unifi';
  return 'none';
}
