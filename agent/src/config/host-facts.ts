/**
 * Gathers what host-checks.ts judges against: this host's interfaces and addresses, and on OPNsense
 * and pfSense the config.xml interface names (wan, lan, opt1). `root` reads a copied tree instead.
 */
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { detectPlatform } from '../platform/detect.ts';
import { at, parseXml, textAt } from '../xml/xml.ts';
import type { HostFacts } from './host-checks.ts';

/** config.xml `<interfaces><wan><if>igb0</if>...` -> { wan: 'igb0' }; empty when unreadable. */
export function configXmlNames(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const el of at(parseXml(text), 'interfaces')?.children ?? []) {
      const ifname = textAt(el, 'if');
      if (ifname) out[el.name] = ifname;
    }
  } catch {
    // A config.xml we cannot read gives no names; the interface checks then speak for themselves.
  }
  return out;
}

export async function hostFacts(root = '/'): Promise<HostFacts> {
  const interfaces = Object.fromEntries(Object.entries(networkInterfaces()).map(([name, list]) => [name, (list ?? []).map((a) => a.address.split('%')[0]!)]));
  const platform = await detectPlatform(root);
  if ((platform.kind !== 'opnsense' && platform.kind !== 'pfsense') || !platform.configXml) return { interfaces };
  const text = await readFile(join(root, platform.configXml), 'utf8').catch(() => undefined);
  return { interfaces, ...(text ? { configNames: configXmlNames(text) } : {}) };
}

