/** The OPNsense plugin hook registers the anchors both PF loaders use (run with the real php). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ANCHOR } from '../src/generate.ts';
import { PMPD_ANCHOR } from '../../agent/src/fw/pf-anchors.ts';
import { SUBNET_PF_ANCHOR } from '../../agent/src/fw/subnet-rules.ts';

const INC = fileURLToPath(new URL('../../opnsense-plugin/src/etc/inc/plugins.inc.d/conegate.inc', import.meta.url));

test('conegate_firewall() registers nat anchor "conegate" at the head, rdr anchor "conegate/pmpd" at the tail, and the subnet router\'s nat and filter anchors at the head', async () => {
  const script = `
    class FakePlugin { public $calls = []; function registerAnchor(...$a) { $this->calls[] = $a; } }
    require '${INC}';
    $fw = new FakePlugin();
    conegate_firewall($fw);
    echo json_encode($fw->calls);`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile('php', ['-r', script], (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('php is missing: apt-get install -y --no-install-recommends php-cli'));
      else if (err) reject(new Error(`php failed: ${stderr}`));
      else resolve(stdout);
    }),
  );
  assert.deepEqual(JSON.parse(out), [
    [ANCHOR.opnsense, 'nat', 0, 'head'],
    [PMPD_ANCHOR, 'rdr', 0, 'tail'],
    [SUBNET_PF_ANCHOR, 'nat', 0, 'head'],
    [SUBNET_PF_ANCHOR, 'fw', 0, 'head'],
  ]);
});
