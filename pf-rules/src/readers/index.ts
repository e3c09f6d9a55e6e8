/** Reads a router model from config.xml text (OPNsense or pfSense, told apart by the root element) or pf.conf text. */
import { DecodeError } from '../../../agent/src/errors.ts';
import { parseXml } from '../../../agent/src/xml/xml.ts';
import type { Platform, RouterModel } from '../model.ts';
import { invalid } from './common.ts';
import { readOpnsenseConfig } from './opnsense.ts';
import { readPfsenseConfig } from './pfsense.ts';
import { readPfConf } from './pfconf.ts';

export function readConfigXml(text: string, expect?: Platform): RouterModel {
  let root;
  try {
    root = parseXml(text);
  } catch (e) {
    if (e instanceof DecodeError) invalid(`config.xml is not well-formed XML: ${e.reason}`);
    throw e;
  }
  const platform = root.name === 'opnsense' ? 'opnsense' : root.name === 'pfsense' ? 'pfsense' : undefined;
  if (!platform) invalid(`config.xml root element <${root.name}> is neither <opnsense> nor <pfsense>`);
  if (expect && expect !== platform) invalid(`--platform ${expect} given, but the config.xml is ${platform}'s`);
  return platform === 'opnsense' ? readOpnsenseConfig(root) : readPfsenseConfig(root);
}

export { readPfConf };
