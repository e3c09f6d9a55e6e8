/**
 * Where PF evaluates our rules. Golden skeletons: the anchor lines each platform's ruleset generator
 * writes with our hook (OPNsense plugin and pfSense package run with the real php), compared with
 * text fixtures that cite the generator's source. Then the skeletons become the fake pfctl's main
 * ruleset and the PF model (test/fakes/pf-eval.ts) answers whether a packet meets our EIM nat rules
 * and our NAT-PMP rdr rules; a wrong anchor or a missing reference fails, and both loaders refuse it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EIM_ANCHOR, PMPD_ANCHOR, assertAnchorsReferenced, parseAnchorRefs, reaches, type PfPlatform } from '../../agent/src/fw/pf-anchors.ts';
import { PfBackend } from '../../agent/src/fw/pf.ts';
import { spawnRunner, type CommandRunner } from '../../agent/src/fw/run.ts';
import { isConegateError } from '../../agent/src/errors.ts';
import { applierFakeView, firstTranslation, pmpdFakeView, type Packet } from '../../test/fakes/pf-eval.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OPN_INC = `${ROOT}opnsense-plugin/src/etc/inc/plugins.inc.d/conegate.inc`;
const PFS_INC = `${ROOT}pfsense-plugin/files/usr/local/pkg/conegate.inc`;
const FAKE_PMPD = `${ROOT}agent/src/fw/testdata/fake-pfctl`;
const skeleton = (name: string) => readFileSync(new URL(`./fixtures/skeleton/${name}.conf`, import.meta.url), 'utf8');
/** The fixture without its header (leading comment lines that cite the source). */
const body = (text: string) => text.split('\n').filter((l, i, all) => !(l.startsWith('# ') && all.slice(0, i + 1).every((x) => x.startsWith('# ')))).join('\n');

function php(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('php', ['-r', script], (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('php is missing: apt-get install -y --no-install-recommends php-cli'));
      else if (err) reject(new Error(`php failed: ${stderr}`));
      else resolve(stdout);
    }),
  );
}

test('OPNsense skeleton: the plugin hook registers a head nat anchor and a tail rdr anchor, placed as filter.inc places them', async () => {
  // A stand-in for OPNsense\Firewall\Plugin with the same anchor bookkeeping: key "type.placement.prio.seq",
  // sorted; anchorToText(types, placement) prints "<type>-anchor" ("anchor" for fw) per type in order.
  const out = await php(`
    class FakePlugin {
      private $a = [];
      function registerAnchor($name, $type = 'fw', $prio = 0, $placement = 'tail', $quick = false) {
        $this->a[sprintf('%s.%s.%08d.%08d', $type, $placement, $prio, count($this->a))] = $name; ksort($this->a);
      }
      function anchorToText($types, $placement) {
        $r = '';
        foreach (explode(',', $types) as $t) foreach ($this->a as $k => $n) if (strpos($k, "$t.$placement") === 0) $r .= ($t == 'fw' ? '' : "$t-") . "anchor \\"$n\\"\\n";
        return $r;
      }
    }
    require '${OPN_INC}';
    $fw = new FakePlugin();
    conegate_firewall($fw);
    echo $fw->anchorToText('nat,binat,rdr', 'head');
    echo "# NAT Redirects\\nno nat proto carp all\\nno rdr proto carp all\\n# <NAT rules by priority: Source NAT, outbound NAT, port forwards>\\n";
    echo $fw->anchorToText('nat,binat,rdr', 'tail');
    echo $fw->anchorToText('fw', 'head');
    echo "# <filter rules>\\n";
    echo $fw->anchorToText('fw', 'tail');`);
  assert.equal(out, body(skeleton('opnsense')));
});

test('pfSense skeleton: the package hook adds rdr-anchor "conegate/pmpd" in package NAT, apart from miniupnpd', async () => {
  const out = JSON.parse(await php(`require '${PFS_INC}'; echo json_encode(['pfearly' => conegate_generate_rules('pfearly'), 'filter' => conegate_generate_rules('filter'), 'nat' => conegate_generate_rules('nat')]);`)) as Record<string, string>;
  assert.equal(out.pfearly, '');
  assert.equal(out.filter, '');
  const pkgNat = out.nat!.split('\n').filter(Boolean);
  // PFCONFIG_CATEGORIES order (util.inc), with the anchor lines filter.inc writes in each category.
  const nat = (upnp: boolean) =>
    [
      'no nat proto carp',
      'no rdr proto carp',
      ...(upnp ? ['binat-anchor "miniupnpd"', 'nat-anchor "miniupnpd"'] : []),
      'nat-anchor "natearly/*"',
      'nat-anchor "natrules/*"',
      '# <1:1, NPt, IPsec NAT>',
      '# <outbound NAT rules>',
      'rdr-anchor "tftp-proxy/*"',
      '# <captive portal, NAT66>',
      '# <port forwards>',
      ...pkgNat,
      ...(upnp ? ['rdr-anchor "miniupnpd"'] : []),
      '# <reflection>',
      '',
    ].join('\n');
  assert.equal(nat(false), body(skeleton('pfsense')));
  assert.equal(nat(true), body(skeleton('pfsense-upnp')));
});

/** A skeleton as `pfctl -s nat` prints the main ruleset, with one appliance rule per marker. */
function mainRuleset(text: string): string {
  return text
    .split('\n')
    .map((l) => {
      if (l.startsWith('# <outbound NAT')) return 'nat on igb0 inet from 192.168.1.0/24 to any -> (igb0:0) port 1024:65535';
      if (l.startsWith('# <port forwards') || l.startsWith('# <NAT rules')) return ['nat on igb0 inet from 192.168.1.0/24 to any -> (igb0:0) port 1024:65535', 'rdr on igb0 inet proto tcp from any to (igb0) port 8080 -> 192.168.1.5 port 80'].slice(l.startsWith('# <NAT') ? 0 : 1).join('\n');
      if (l.startsWith('#')) return '';
      return /-anchor "[^"]+"$/.test(l) ? `${l} all` : l;
    })
    .filter(Boolean)
    .join('\n') + '\n';
}

const PLATFORMS: [PfPlatform, string][] = [['opnsense', 'opnsense'], ['pfsense', 'pfsense'], ['pfsense', 'pfsense-upnp'], ['freebsd', 'freebsd']];
const EIM_RULE = 'nat on igb0 inet proto udp from 192.168.1.0/24 to any -> (igb0:0) port 1024:65535 endpoint-independent\n';
const outUdp: Packet = { dir: 'out', ifname: 'igb0', proto: 'udp', src: '192.168.1.10', sport: 41641, dst: '198.51.100.7', dport: 3478 };
const inUdp: Packet = { dir: 'in', ifname: 'igb0', proto: 'udp', src: '198.51.100.9', sport: 40000, dst: '203.0.113.1', dport: 5555 };
const MAPPING = { id: 'udp-192-168-1-10-5555', transport: 'udp' as const, externalAddress: '203.0.113.1', externalPort: 5555, internalAddress: '192.168.1.10', internalPort: 5555 };

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-anchors-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function pmpdBackend(dir: string, anchor = PMPD_ANCHOR): PfBackend {
  const base = spawnRunner();
  const run: CommandRunner = (argv, input) => {
    process.env.FAKE_PFCTL_DIR = dir;
    return base(argv, input);
  };
  return new PfBackend({ anchor, wanIf: 'igb0', pfctl: FAKE_PMPD, run });
}

for (const [platform, name] of PLATFORMS) {
  test(`${name}: EIM nat rules in ${EIM_ANCHOR[platform]} are met before the appliance's outbound NAT; NAT-PMP rdr rules in ${PMPD_ANCHOR} redirect`, async () => {
    await withDir(async (dir) => {
      mkdirSync(join(dir, 'anchors'));
      writeFileSync(join(dir, 'main.conf'), mainRuleset(skeleton(name)));
      writeFileSync(join(dir, 'anchors', EIM_ANCHOR[platform].replace(/\//g, '_')), EIM_RULE);
      const hit = firstTranslation(applierFakeView(dir), 'nat', outUdp);
      assert.equal(hit?.anchor, EIM_ANCHOR[platform]);
      assert.match(hit!.rule, /endpoint-independent/);
      assert.equal(firstTranslation(applierFakeView(dir), 'nat', { ...outUdp, proto: 'tcp' })?.anchor, '', 'TCP still meets the appliance rule');

      const pmpd = pmpdBackend(dir);
      await pmpd.add(MAPPING);
      const rdr = firstTranslation(pmpdFakeView(dir), 'rdr', inUdp);
      assert.equal(rdr?.anchor, PMPD_ANCHOR);
      assert.match(rdr!.rule, /-> 192\.168\.1\.10 port 5555/);
      assert.equal(firstTranslation(pmpdFakeView(dir), 'rdr', { ...inUdp, proto: 'tcp', dport: 8080 })?.anchor, '', "the admin's port forward is untouched");
    });
  });
}

test('a wrong anchor has no effect in the model, and both loaders refuse a ruleset that does not reference theirs', async () => {
  await withDir(async (dir) => {
    mkdirSync(join(dir, 'anchors'));
    // What main had: the OPNsense hook registered only the nat anchor.
    writeFileSync(join(dir, 'main.conf'), 'nat-anchor "conegate" all\nno nat proto carp all\nno rdr proto carp all\n');
    writeFileSync(join(dir, 'anchor-conegate_pmpd'), `rdr pass on igb0 inet proto udp from any to 203.0.113.1 port 5555 -> 192.168.1.10 port 5555\n`);
    assert.equal(firstTranslation(pmpdFakeView(dir), 'rdr', inUdp), undefined, 'rdr rules behind a nat-anchor are never evaluated');
    await assert.rejects(pmpdBackend(dir).add(MAPPING), (e: unknown) => isConegateError(e) && e.code === 'CG_ANCHOR_UNREFERENCED' && /rdr-anchor "conegate\/pmpd"/.test(e.message) && /OPNsense: install the conegate plugin/.test(e.message));
    // pfSense: rdr rules under natrules/* are not reached either (it is a nat-anchor).
    writeFileSync(join(dir, 'main.conf'), mainRuleset(skeleton('pfsense')));
    writeFileSync(join(dir, 'anchor-natrules_conegate'), `rdr pass on igb0 inet proto udp from any to 203.0.113.1 port 5555 -> 192.168.1.10 port 5555\n`);
    rmSync(join(dir, 'anchor-conegate_pmpd'));
    assert.equal(firstTranslation(pmpdFakeView(dir), 'rdr', inUdp), undefined);
    await assert.rejects(pmpdBackend(dir, 'natrules/conegate').add(MAPPING), (e: unknown) => isConegateError(e) && e.code === 'CG_ANCHOR_UNREFERENCED');
    // The applier's check: an EIM anchor nobody references.
    const run = async (args: string[]) => ({ code: 0, stdout: args.join(' ') === '-s nat' ? 'nat-anchor "natrules/*" all\n' : '', stderr: '' });
    await assert.rejects(assertAnchorsReferenced(run, [{ type: 'nat', name: EIM_ANCHOR.pfsense }], 'pfsense'), (e: unknown) => isConegateError(e) && e.code === 'CG_ANCHOR_UNREFERENCED' && /Status > Filter Reload/.test(e.message));
  });
});

test('anchor references: types, wildcards one level deep', () => {
  const refs = parseAnchorRefs(mainRuleset(skeleton('pfsense-upnp')));
  assert.ok(reaches(refs, { type: 'nat', name: 'natearly/conegate' }));
  assert.ok(reaches(refs, { type: 'rdr', name: 'conegate/pmpd' }));
  assert.ok(!reaches(refs, { type: 'rdr', name: 'natearly/conegate' }));
  assert.ok(!reaches(refs, { type: 'nat', name: 'natearly/conegate/x' }));
  assert.ok(reaches([{ type: 'rdr', name: 'conegate/*' }], { type: 'rdr', name: 'conegate/pmpd' }));
});
