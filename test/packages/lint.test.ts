/**
 * The platforms' own checks on every plugin file: XML well-formed (xmllint, as OPNsense and pfSense
 * parse them with libxml2), PHP that `php -l` accepts, shell scripts `sh -n` parses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requirePeers } from '../lab/require-peers.ts';
import { listFiles, ROOT, runTool } from './helpers.ts';

const TREES = ['opnsense-plugin', 'pfsense-plugin', 'unifi'];

async function pluginFiles(): Promise<string[]> {
  return (await Promise.all(TREES.map(async (t) => (await listFiles(join(ROOT, t))).map((f) => join(t, f))))).flat();
}

test('every XML file of the plugins is well-formed (xmllint --noout)', async () => {
  requirePeers({ xmllint: 'libxml2-utils' });
  const xml = (await pluginFiles()).filter((f) => f.endsWith('.xml'));
  assert.ok(xml.length >= 6, `found only ${xml.join(', ')}`);
  for (const f of xml) {
    const r = await runTool('xmllint', ['--noout', join(ROOT, f)]);
    assert.equal(r.code, 0, `${f}: ${r.stderr}`);
  }
});

test('every PHP file of the plugins passes php -l (.php, .inc, and PHP scripts)', async () => {
  requirePeers({ php: 'php-cli' });
  const files = [];
  for (const f of await pluginFiles()) {
    const text = await readFile(join(ROOT, f), 'utf8');
    if (/\.(php|inc)$/.test(f) || text.startsWith('#!/usr/local/bin/php')) files.push(f);
  }
  assert.ok(files.length >= 12, `found only ${files.join(', ')}`);
  for (const f of files) {
    const r = await runTool('php', ['-l', join(ROOT, f)]);
    assert.equal(r.code, 0, `${f}: ${r.stdout}${r.stderr}`);
  }
});

test('every shell script of the plugins parses (sh -n)', async () => {
  const files = [];
  for (const f of await pluginFiles()) {
    const text = await readFile(join(ROOT, f), 'utf8');
    if (text.startsWith('#!/bin/sh') || f.endsWith('.in')) files.push(f);
  }
  assert.ok(files.length >= 5, `found only ${files.join(', ')}`);
  for (const f of files) {
    const r = await runTool('sh', ['-n', join(ROOT, f)]);
    assert.equal(r.code, 0, `${f}: ${r.stderr}`);
  }
});
