/**
 * What `npm run package -- --platform X` ships, as plain data (the edge, build.ts, reads the trees
 * and writes the archives):
 *
 * - opnsense: `conegate-<v>.pkg` (the agent) + `os-conegate-<v>.pkg` (the plugin, opnsense-plugin/src
 *   under /usr/local, plus the front-end bundle under /usr/local/opnsense/www/{js,css}/conegate/);
 * - pfsense:  `conegate-<v>.pkg` + `pfSense-pkg-conegate-<v>.pkg` (pfsense-plugin/files, exactly what
 *   its pkg-plist lists: a file shipped but not listed, or listed but not shipped, stops the build);
 * - unifi:    `conegate-<v>-unifi-<arch>.tar.gz`: install.sh, the units, the boot hook, the agent and
 *   an official Node runtime (the registry's node-linux-<arch> package).
 *
 * The agent package is the same for both FreeBSD appliances: /usr/local/lib/conegate (the esbuild
 * bundle, koffi and koffi's FreeBSD binary), /usr/local/bin/conegate, the rc.d script and the fleet boot
 * check it runs first (/usr/local/libexec/conegate-fleet-boot-check); it depends on
 * the FreeBSD port www/node22 (neither appliance repository carries Node: README says where from).
 */
import { ConegateError } from '../errors.ts';
import type { PkgFile, PkgMeta } from './pkg-manifest.ts';
import type { TarEntry } from './tar.ts';
import { expandPlist, parseMakeVars, parseRunDepends, requireVar } from './port-files.ts';

export type Platform = 'opnsense' | 'pfsense' | 'unifi';
export const PLATFORMS: readonly Platform[] = ['opnsense', 'pfsense', 'unifi'];

/** One file of a source tree, path relative to the tree's root. */
export interface TreeFile {
  rel: string;
  mode: number;
  data: Uint8Array;
}

export interface PlanInputs {
  version: string;
  /** Tree of opnsense-plugin/, pfsense-plugin/ or unifi/ (whichever the platform needs). */
  plugin: TreeFile[];
  /** agent/init/conegate.rc (FreeBSD). */
  rcScript?: Uint8Array;
  /** agent/init/conegate-fleet-boot-check: reverts a fleet change left unconfirmed by a reboot, before the agent starts. */
  bootCheck: Uint8Array;
  /** dist/ without node_modules and web: conegate.js, chunks/, legal comments. */
  bundle: TreeFile[];
  /** node_modules/koffi. */
  koffi: TreeFile[];
  /** The @koromix/koffi-<os>-<arch> package of the target. */
  koffiNative: { name: string; files: TreeFile[] };
  /** dist/web: app.js and app.css. */
  web: TreeFile[];
  /** UniFi: the node-linux-<arch> package (bin/node, LICENSE). */
  node?: TreeFile[];
  arch: 'x64' | 'arm64';
  /** FreeBSD major of the appliance's release (14: OPNsense 25.x/26.1, pfSense 2.7/2.8; 15: OPNsense 26.7). */
  freebsdMajor: number;
}

export type Artefact = { kind: 'pkg'; fileName: string; meta: PkgMeta; files: PkgFile[] } | { kind: 'tgz'; fileName: string; entries: TarEntry[] };

/** The Node the FreeBSD packages need: ports www/node22 (Node 22 LTS; the agent runs on 20.19+). */
export const FREEBSD_NODE_DEP = { node22: { origin: 'www/node22', version: '22' } } as const;
/** Package name -> port origin for PLUGIN_DEPENDS (OPNsense's Makefile names packages only). */
const ORIGINS: Record<string, string> = { conegate: 'net/conegate', node22: 'www/node22' };
const PREFIX = '/usr/local';
const LIB = `${PREFIX}/lib/conegate`;
const WWW = 'https://conegate.invalid/';
const enc = new TextEncoder();
const dec = new TextDecoder();

function file(tree: TreeFile[], rel: string, where: string): TreeFile {
  const f = tree.find((t) => t.rel === rel);
  if (!f) throw new ConegateError('CG_NOT_FOUND', `${where}: ${rel} is missing`);
  return f;
}

function execMode(mode: number): number {
  return mode & 0o111 ? 0o755 : 0o644;
}

function webFiles(inputs: PlanInputs): { js: TreeFile; css: TreeFile } {
  return { js: file(inputs.web, 'app.js', 'front-end bundle (dist/web)'), css: file(inputs.web, 'app.css', 'front-end bundle (dist/web)') };
}

/**
 * What of koffi runs: its JS (index, indirect, src/koffi/**.js|cjs), package.json and licence; not its
 * C++ sources, vendored headers, docs or build tool (cnoke.cjs), which are 1.3 MB of the 1.9.
 */
export function koffiRuntimeFile(rel: string): boolean {
  if (/^(doc|vendor|lib)\//.test(rel) || rel === 'cnoke.cjs') return false;
  return /\.(c?js|json)$/.test(rel) || /^LICENSE/.test(rel);
}

/** The agent's runtime files under `root`: bundle, koffi, koffi's binary for the target. */
function agentLib(inputs: PlanInputs, root: string): { path: string; mode: number; data: Uint8Array }[] {
  if (!inputs.bundle.some((f) => f.rel === 'conegate.js')) throw new ConegateError('CG_NOT_FOUND', 'agent bundle: conegate.js is missing (npm run build)');
  if (inputs.koffiNative.files.length === 0) throw new ConegateError('CG_NOT_FOUND', `${inputs.koffiNative.name}: no files`);
  return [
    ...inputs.bundle.map((f) => ({ path: `${root}/${f.rel}`, mode: 0o644, data: f.data })),
    ...inputs.koffi.filter((f) => koffiRuntimeFile(f.rel)).map((f) => ({ path: `${root}/node_modules/koffi/${f.rel}`, mode: 0o644, data: f.data })),
    ...inputs.koffiNative.files.map((f) => ({ path: `${root}/node_modules/${inputs.koffiNative.name}/${f.rel}`, mode: 0o644, data: f.data })),
  ];
}

function abi(inputs: PlanInputs, binary: boolean): string {
  return `FreeBSD:${inputs.freebsdMajor}:${binary ? (inputs.arch === 'x64' ? 'amd64' : 'aarch64') : '*'}`;
}

/** The `conegate` package: the agent for OPNsense and pfSense. */
export function agentPkg(inputs: PlanInputs): Artefact {
  if (!inputs.rcScript) throw new ConegateError('CG_NOT_FOUND', 'agent/init/conegate.rc is missing');
  const wrapper = `#!/bin/sh\n# conegate on FreeBSD: the agent bundle on the Node of www/node22.\nexec ${PREFIX}/bin/node ${LIB}/conegate.js "$@"\n`;
  const files: PkgFile[] = [
    ...agentLib(inputs, LIB),
    { path: `${PREFIX}/bin/conegate`, mode: 0o755, data: enc.encode(wrapper) },
    { path: `${PREFIX}/etc/rc.d/conegate`, mode: 0o555, data: inputs.rcScript },
    { path: `${PREFIX}/libexec/conegate-fleet-boot-check`, mode: 0o755, data: inputs.bootCheck },
  ];
  const meta: PkgMeta = {
    name: 'conegate',
    origin: 'net/conegate',
    version: inputs.version,
    comment: 'Router-side NAT traversal agent (EIM NAT, NAT-PMP/PCP, WireGuard mesh)',
    desc: 'The conegate agent: endpoint-independent NAT for UDP, a NAT-PMP/PCP server, upstream port mapping,\nIPS checks and a WireGuard mesh node. Runs on Node from www/node22.',
    maintainer: 'conegate@conegate.invalid',
    www: WWW,
    abi: abi(inputs, true),
    prefix: PREFIX,
    licenses: ['MPL20'],
    categories: ['net'],
    deps: { ...FREEBSD_NODE_DEP },
    scripts: { 'pre-deinstall': `${PREFIX}/etc/rc.d/conegate onestop >/dev/null 2>&1 || true\n` },
  };
  return { kind: 'pkg', fileName: `conegate-${inputs.version}.pkg`, meta, files };
}

function opnsensePkg(inputs: PlanInputs): Artefact {
  const vars = parseMakeVars(dec.decode(file(inputs.plugin, 'Makefile', 'opnsense-plugin').data));
  const name = `os-${requireVar(vars, 'PLUGIN_NAME', 'opnsense-plugin/Makefile')}`;
  const version = requireVar(vars, 'PLUGIN_VERSION', 'opnsense-plugin/Makefile');
  const deps = Object.fromEntries(
    (vars.PLUGIN_DEPENDS ?? '').split(/\s+/).filter(Boolean).map((d) => {
      const origin = ORIGINS[d];
      if (!origin) throw new ConegateError('CG_INPUT_INVALID', `opnsense-plugin/Makefile: no port origin known for PLUGIN_DEPENDS ${d}`);
      return [d, { origin, version: d === 'conegate' ? version : '0' }];
    }),
  );
  const { js, css } = webFiles(inputs);
  // plugins.mk installs src/ under LOCALBASE; the front-end goes where OPNsense serves /ui/js and /ui/css.
  const files: PkgFile[] = [
    ...inputs.plugin.filter((f) => f.rel.startsWith('src/')).map((f) => ({ path: `${PREFIX}/${f.rel.slice(4)}`, mode: execMode(f.mode), data: f.data })),
    { path: `${PREFIX}/opnsense/www/js/conegate/app.js`, mode: 0o644, data: js.data },
    { path: `${PREFIX}/opnsense/www/css/conegate/app.css`, mode: 0o644, data: css.data },
  ];
  const meta: PkgMeta = {
    name,
    origin: `opnsense/${name}`,
    version,
    comment: requireVar(vars, 'PLUGIN_COMMENT', 'opnsense-plugin/Makefile'),
    desc: dec.decode(file(inputs.plugin, 'pkg-descr', 'opnsense-plugin').data),
    maintainer: requireVar(vars, 'PLUGIN_MAINTAINER', 'opnsense-plugin/Makefile'),
    www: vars.PLUGIN_WWW ?? WWW,
    abi: abi(inputs, false),
    prefix: PREFIX,
    licenses: ['MPL20'],
    categories: ['opnsense'],
    deps,
    // What plugins.mk's scripts do: configd learns the new actions, the plugin's hooks run, the
    // templates render; on removal the service stops first.
    scripts: {
      'post-install': 'if [ -x /usr/local/etc/rc.configure_plugins ]; then /usr/local/etc/rc.configure_plugins POST_INSTALL >/dev/null; fi\n/usr/sbin/service configd restart >/dev/null 2>&1 || true\n/usr/local/sbin/configctl template reload OPNsense/Conegate >/dev/null 2>&1 || true\n',
      'pre-deinstall': '/usr/local/etc/rc.d/conegate onestop >/dev/null 2>&1 || true\n',
      'post-deinstall': 'if [ -x /usr/local/etc/rc.configure_plugins ]; then /usr/local/etc/rc.configure_plugins POST_DEINSTALL >/dev/null; fi\n/usr/sbin/service configd restart >/dev/null 2>&1 || true\n',
    },
  };
  return { kind: 'pkg', fileName: `${name}-${version}.pkg`, meta, files };
}

/** pfsense-plugin/files (without the pkg-install/deinstall templates) -> absolute paths. */
export function pfsenseShippedFiles(plugin: TreeFile[]): TreeFile[] {
  return plugin.filter((f) => f.rel.startsWith('files/') && !/^files\/pkg-(de)?install\.in$/.test(f.rel)).map((f) => ({ ...f, rel: f.rel.slice(5) }));
}

function pfsensePkg(inputs: PlanInputs): Artefact {
  const where = 'pfsense-plugin/Makefile';
  const vars = parseMakeVars(dec.decode(file(inputs.plugin, 'Makefile', 'pfsense-plugin').data));
  const name = requireVar(vars, 'PORTNAME', where);
  const version = requireVar(vars, 'PORTVERSION', where);
  const { js, css } = webFiles(inputs);
  const shipped = new Map<string, TreeFile>(pfsenseShippedFiles(inputs.plugin).map((f) => [f.rel, f]));
  shipped.set(`${PREFIX}/www/conegate/app.js`, js);
  shipped.set(`${PREFIX}/www/conegate/app.css`, css);
  const plist = expandPlist(dec.decode(file(inputs.plugin, 'pkg-plist', 'pfsense-plugin').data), PREFIX, name);
  const unlisted = [...shipped.keys()].filter((p) => !plist.files.includes(p));
  const missing = plist.files.filter((p) => !shipped.has(p));
  if (unlisted.length > 0 || missing.length > 0) {
    throw new ConegateError('CG_INPUT_INVALID', `pfsense-plugin/pkg-plist does not match the files: ${[...unlisted.map((p) => `shipped, not listed: ${p}`), ...missing.map((p) => `listed, not shipped: ${p}`)].join('; ')}`);
  }
  const script = (rel: string) => dec.decode(file(inputs.plugin, rel, 'pfsense-plugin').data).replace(/%%PORTNAME%%/g, name);
  const files: PkgFile[] = plist.files.map((p) => {
    const f = shipped.get(p)!;
    const data = p.endsWith('/info.xml') ? enc.encode(dec.decode(f.data).replace(/%%PKGVERSION%%/g, version)) : f.data;
    return { path: p, mode: execMode(f.mode), data };
  });
  const meta: PkgMeta = {
    name,
    origin: `${requireVar(vars, 'CATEGORIES', where).split(/\s+/)[0]}/${name}`,
    version,
    comment: requireVar(vars, 'COMMENT', where),
    desc: dec.decode(file(inputs.plugin, 'pkg-descr', 'pfsense-plugin').data),
    maintainer: requireVar(vars, 'MAINTAINER', where),
    www: WWW,
    abi: abi(inputs, false),
    prefix: PREFIX,
    licenses: [vars.LICENSE ?? 'MPL20'],
    categories: requireVar(vars, 'CATEGORIES', where).split(/\s+/),
    deps: parseRunDepends(vars.RUN_DEPENDS ?? ''),
    scripts: { install: script('files/pkg-install.in'), deinstall: script('files/pkg-deinstall.in') },
  };
  return { kind: 'pkg', fileName: `${name}-${version}.pkg`, meta, files };
}

function unifiTarball(inputs: PlanInputs): Artefact {
  if (!inputs.node) throw new ConegateError('CG_NOT_FOUND', 'UniFi needs a Node runtime (node-linux-<arch> package)');
  const nodeBin = file(inputs.node, 'bin/node', `node-linux-${inputs.arch}`);
  const top = `conegate-${inputs.version}-unifi-${inputs.arch}`;
  const unifi = (rel: string) => file(inputs.plugin, rel, 'unifi');
  const entries: TarEntry[] = [
    { path: `${top}/ARCH`, type: 'file', mode: 0o644, data: enc.encode(`${inputs.arch}\n`) },
    { path: `${top}/VERSION`, type: 'file', mode: 0o644, data: enc.encode(`${inputs.version}\n`) },
    { path: `${top}/install.sh`, type: 'file', mode: 0o755, data: unifi('install.sh').data },
    { path: `${top}/on-boot.sh`, type: 'file', mode: 0o755, data: unifi('on-boot.sh').data },
    { path: `${top}/conegate-fleet-boot-check`, type: 'file', mode: 0o755, data: inputs.bootCheck },
    ...inputs.plugin.filter((f) => f.rel.startsWith('systemd/')).map((f): TarEntry => ({ path: `${top}/${f.rel}`, type: 'file', mode: 0o644, data: f.data })),
    ...agentLib(inputs, `${top}/lib`).map((f): TarEntry => ({ path: f.path, type: 'file', mode: f.mode, data: f.data })),
    { path: `${top}/node/bin/node`, type: 'file', mode: 0o755, data: nodeBin.data },
    ...inputs.node.filter((f) => f.rel === 'LICENSE').map((f): TarEntry => ({ path: `${top}/node/LICENSE`, type: 'file', mode: 0o644, data: f.data })),
  ];
  return { kind: 'tgz', fileName: `${top}.tar.gz`, entries };
}

/** Every artefact of one platform. */
export function planPackages(platform: Platform, inputs: PlanInputs): Artefact[] {
  if (!/^\d+\.\d+\.\d+([-.][A-Za-z0-9.]+)?$/.test(inputs.version)) throw new ConegateError('CG_INPUT_INVALID', `version ${JSON.stringify(inputs.version)} is not x.y.z`);
  switch (platform) {
    case 'opnsense':
      return [agentPkg(inputs), opnsensePkg(inputs)];
    case 'pfsense':
      return [agentPkg(inputs), pfsensePkg(inputs)];
    case 'unifi':
      return [unifiTarball(inputs)];
  }
}
