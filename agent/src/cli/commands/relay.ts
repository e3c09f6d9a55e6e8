/**
 * `conegate relay serve`: the relay server (TLS on TCP 443, raw and WebSocket upgrades, STUN beside
 * it, admission by the coordinator, high availability with the other relays of its region). This file
 * only parses and prints; the server is agent/src/relay/server.
 */
import { Command } from 'commander';
import { DEFAULT_RELAY_STATE_DIR, serveRelay } from '../../relay/server/serve.ts';
import { globalOptions, integerArg, loggerFor, printResult } from '../context.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function relayCommand(): Command {
  const cmd = new Command('relay').description('relay server: packets between nodes over TLS on TCP 443 when no direct path exists');
  cmd
    .command('serve')
    .description('run the relay server (TLS only; foreground)')
    .requiredOption('--listen <addr:port>', 'address and port for clients, e.g. 0.0.0.0:443')
    .option('--stun <addr:port>', 'also answer STUN on this UDP address, e.g. 0.0.0.0:3478')
    .option('--tls-cert <file>', 'certificate (PEM)')
    .option('--tls-key <file>', 'private key (PEM)')
    .option('--self-signed', 'make (once) and use a self-signed certificate; prints its SHA-256 for the relay map')
    .option('--state-dir <dir>', 'where the server key (and a self-signed certificate) live', DEFAULT_RELAY_STATE_DIR)
    .option('--region <name>', 'the region this relay serves (as in the relay map)')
    .option('--coordinator <url>', 'admit only node keys the coordinator knows and has not revoked')
    .option('--coordinator-fingerprint <sha256>', "pin the coordinator's certificate (else CA-verified)")
    .option('--coordinator-secret-file <file>', 'the relay secret (the file coord serve --relay-secret-file made; 0600)')
    .option('--admission-allow-file <file>', 'instead of a coordinator: node keys to admit, 64 hex chars a line (re-read every 10 s)')
    .option('--mesh-key-file <file>', 'key shared by the relays of this region (64 hex chars, 0600)')
    .option('--mesh-peer <url>', 'another relay of the region, https://HOST:PORT[#sha256=CERT_SHA256] (repeatable)', collect, [])
    .option('--client-rate <bytes-per-sec>', 'per-client read limit, bytes/s (default: unlimited)', integerArg(1, 1_000_000_000))
    .option('--json', 'machine-readable output')
    .action(async (opts: { listen: string; stun?: string; tlsCert?: string; tlsKey?: string; selfSigned?: boolean; stateDir: string; region?: string; coordinator?: string; coordinatorFingerprint?: string; coordinatorSecretFile?: string; admissionAllowFile?: string; meshKeyFile?: string; meshPeer: string[]; clientRate?: number; json?: boolean }, c: Command) => {
      const log = loggerFor(globalOptions(c));
      const running = await serveRelay(opts, log);
      const info = { listen: running.listen, fingerprint: running.fingerprint, serverKey: running.serverKey, ...(running.stun ? { stun: running.stun } : {}), ...(running.region ? { region: running.region } : {}) };
      printResult(opts.json === true, info, () => `relay on https://${info.listen}/relay\ncertificate sha256 ${info.fingerprint}\nserver key ${info.serverKey}${info.stun ? `\nstun on ${info.stun}` : ''}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.stop();
    });
  return cmd;
}
