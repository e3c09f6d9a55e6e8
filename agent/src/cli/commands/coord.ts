/**
 * `conegate coord`: the mesh coordinator and its admin commands. This file only parses and prints:
 * the server is agent/src/coord/server, the admin commands talk to it over its local admin socket.
 *   serve                                    run the coordinator (foreground; SIGINT/SIGTERM stop it)
 *   authkey create|list|expire               pre-auth keys (the secret is printed once, at create)
 *   nodes list|rename|revoke                 registered nodes
 *   routes list|approve|reject               subnet routes nodes advertise
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { AdminClient, DEFAULT_ADMIN_SOCKET } from '../../coord/client/admin.ts';
import type { AuthKeyView, NodeView } from '../../coord/server/admin-api.ts';
import { DEFAULT_DB_DIR, serveCoordinator } from '../../coord/server/serve.ts';
import type { RouteRecord } from '../../coord/store/types.ts';
import { globalOptions, loggerFor, printResult } from '../context.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const socketOption = () => new Option('--admin-socket <path>', 'the coordinator\'s admin socket').default(DEFAULT_ADMIN_SOCKET);
const jsonOption = () => new Option('--json', 'machine-readable output');
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "30m", "24h", "7d" to seconds (1 s .. 10 years). */
export function durationArg(v: string): number {
  const m = /^(\d{1,9})([smhd])$/.exec(v);
  const sec = m ? Number(m[1]) * UNITS[m[2]!]! : 0;
  if (!m || sec < 1 || sec > 10 * 365 * 86400) throw new InvalidArgumentError('expected a duration like 90s, 30m, 24h or 7d');
  return sec;
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

export function coordCommand(): Command {
  const cmd = new Command('coord').description('mesh coordinator: serve it, and manage auth keys, nodes and routes');

  cmd
    .command('serve')
    .description('run the coordinator (HTTPS only; foreground)')
    .requiredOption('--listen <addr:port>', 'address and port for nodes, e.g. 0.0.0.0:443 or [::]:443')
    .option('--db <dir|url>', 'SQLite directory, or a postgres:// URL', DEFAULT_DB_DIR)
    .option('--tls-cert <file>', 'certificate (PEM)')
    .option('--tls-key <file>', 'private key (PEM)')
    .option('--self-signed', 'make (once) and use a self-signed certificate; prints its SHA-256 for pinning')
    .option('--tls-dir <dir>', `where --self-signed keeps its key and certificate when --db is PostgreSQL (default ${DEFAULT_DB_DIR})`)
    .option('--prefix <cidr>', 'IPv4 pool for mesh addresses (default 100.64.0.0/10)')
    .option('--prefix6 <cidr>', 'IPv6 pool (default a random ULA /48, chosen once)')
    .option('--relay-map <file>', 'relay map JSON ({"regions": [...]}) sent to every node')
    .option('--relay-secret-file <file>', 'secret relay servers use to ask which node keys to admit (made 0600 if missing; give the same file to relay serve --coordinator-secret-file)')
    .addOption(new Option('--register-limit <burst:perSec>', 'registrations per source address (benchmarks simulate many nodes on one address)').default('20:2').hideHelp())
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (opts: { listen: string; registerLimit: string; db: string; tlsCert?: string; tlsKey?: string; selfSigned?: boolean; tlsDir?: string; prefix?: string; prefix6?: string; relayMap?: string; relaySecretFile?: string; adminSocket: string; json?: boolean }, c: Command) => {
      const log = loggerFor(globalOptions(c));
      const running = await serveCoordinator(opts, log);
      const info = { listen: running.listen, fingerprint: running.fingerprint, adminSocket: opts.adminSocket, db: opts.db.replace(/\/\/[^@/]*@/, '//***@'), ...(opts.relaySecretFile ? { relaySecretFile: opts.relaySecretFile } : {}) };
      printResult(opts.json === true, info, () => `coordinator on https://${info.listen}\ncertificate sha256 ${info.fingerprint}\nadmin socket ${info.adminSocket}${info.relaySecretFile ? `\nrelay secret in ${info.relaySecretFile}` : ''}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.stop();
    });

  const authkey = cmd.command('authkey').description('pre-auth keys nodes register with');
  authkey
    .command('create')
    .description('create a key; its secret is printed once and never stored')
    .option('--reusable', 'many nodes may register with it (default: single use)')
    .option('--expires <duration>', 'expire after this long, e.g. 24h or 7d (default: never)', durationArg)
    .option('--tag <tag>', 'tag for nodes registered with it (repeatable)', collect)
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (o: { reusable?: boolean; expires?: number; tag?: string[]; adminSocket: string; json?: boolean }) => {
      const body = { reusable: o.reusable === true, ...(o.expires ? { expiresInSec: o.expires } : {}), ...(o.tag ? { tags: o.tag } : {}) };
      const k = await new AdminClient({ socketPath: o.adminSocket }).post<AuthKeyView & { secret: string }>('/admin/authkeys', body);
      printResult(o.json === true, k, () => `${k.secret}\n(id ${k.id}, ${k.reusable ? 'reusable' : 'single use'}, expires ${iso(k.expiresAtMs)}; the secret is not shown again)`);
    });
  authkey
    .command('list')
    .description('list keys (never their secrets)')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (o: { adminSocket: string; json?: boolean }) => {
      const { authKeys } = await new AdminClient({ socketPath: o.adminSocket }).get<{ authKeys: AuthKeyView[] }>('/admin/authkeys');
      printResult(o.json === true, authKeys, () =>
        authKeys.length === 0 ? 'no auth keys' : authKeys.map((k) => `${k.id} ${k.reusable ? 'reusable' : 'single'} uses=${k.uses} expires=${iso(k.expiresAtMs)}${k.revokedAtMs !== null ? ' EXPIRED' : ''}${k.usedAtMs !== null && !k.reusable ? ' USED' : ''} ${k.tags.join(',')}`).join('\n'),
      );
    });
  authkey
    .command('expire')
    .argument('<id>', 'key id (ak_...)')
    .description('expire a key now (nodes already registered stay)')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { adminSocket: string; json?: boolean }) => {
      const r = await new AdminClient({ socketPath: o.adminSocket }).post(`/admin/authkeys/${encodeURIComponent(id)}/expire`);
      printResult(o.json === true, r, () => `expired ${id}`);
    });

  const nodes = cmd.command('nodes').description('registered nodes');
  nodes
    .command('list')
    .option('--all', 'include revoked nodes')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (o: { all?: boolean; adminSocket: string; json?: boolean }) => {
      const r = await new AdminClient({ socketPath: o.adminSocket }).get<{ nodes: NodeView[] }>(`/admin/nodes${o.all ? '?all=1' : ''}`);
      printResult(o.json === true, r.nodes, () =>
        r.nodes.length === 0 ? 'no nodes' : r.nodes.map((n) => `${n.id} ${n.name} ${n.ipv4} ${n.ipv6} ${n.revokedAtMs !== null ? 'REVOKED' : n.online ? 'online' : `last seen ${iso(n.lastSeenMs)}`} ${n.endpoints.map((e) => e.addr).join(',')}`).join('\n'),
      );
    });
  nodes
    .command('rename')
    .argument('<id>', 'node id (nd_...)')
    .argument('<name>', 'new name (a DNS label)')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (id: string, name: string, o: { adminSocket: string; json?: boolean }) => {
      const r = await new AdminClient({ socketPath: o.adminSocket }).post<{ name: string }>(`/admin/nodes/${encodeURIComponent(id)}/rename`, { name });
      printResult(o.json === true, r, () => `${id} is now ${r.name}`);
    });
  nodes
    .command('revoke')
    .argument('<id>', 'node id (nd_...)')
    .description('remove the node from every map at once; its machine key cannot register again')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (id: string, o: { adminSocket: string; json?: boolean }) => {
      const r = await new AdminClient({ socketPath: o.adminSocket }).post(`/admin/nodes/${encodeURIComponent(id)}/revoke`);
      printResult(o.json === true, r, () => `revoked ${id}`);
    });

  const routes = cmd.command('routes').description('subnet routes nodes advertise');
  routes
    .command('list')
    .addOption(socketOption())
    .addOption(jsonOption())
    .action(async (o: { adminSocket: string; json?: boolean }) => {
      const r = await new AdminClient({ socketPath: o.adminSocket }).get<{ routes: RouteRecord[] }>('/admin/routes');
      printResult(o.json === true, r.routes, () => (r.routes.length === 0 ? 'no routes' : r.routes.map((x) => `${x.nodeId} ${x.cidr} ${x.approved ? 'approved' : 'pending'}`).join('\n')));
    });
  for (const verb of ['approve', 'reject'] as const) {
    routes
      .command(verb)
      .argument('<node>', 'node id (nd_...)')
      .argument('<cidr>', 'the route as the node advertises it')
      .addOption(socketOption())
      .addOption(jsonOption())
      .action(async (nodeId: string, cidr: string, o: { adminSocket: string; json?: boolean }) => {
        const r = await new AdminClient({ socketPath: o.adminSocket }).post(`/admin/routes/${verb}`, { nodeId, cidr });
        printResult(o.json === true, r, () => `${verb === 'approve' ? 'approved' : 'rejected'} ${cidr} for ${nodeId}`);
      });
  }
  return cmd;
}
