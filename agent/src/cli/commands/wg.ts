/**
 * WireGuard commands: `conegate keygen`, `conegate pubkey` (like `wg genkey` / `wg pubkey`) and
 * `conegate wg up --config FILE` (plain WireGuard mode, foreground until SIGINT/SIGTERM).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command } from 'commander';
import { ConegateError } from '../../errors.ts';
import { writeSecretFile } from '../../secrets/file.ts';
import { parseWgUpConfig } from '../../wg/conf/conf.ts';
import { generatePrivateKey, keyFromBase64, keyToBase64, publicKey } from '../../wg/keys.ts';
import { globalOptions, loggerFor, printResult } from '../context.ts';

export function keygenCommand(): Command {
  return new Command('keygen')
    .description('generate a WireGuard private key (base64), like wg genkey')
    .option('--out <file>', 'write the key to FILE (mode 0600) instead of stdout')
    .action(async (opts: { out?: string }) => {
      const key = keyToBase64(generatePrivateKey());
      if (!opts.out) {
        process.stdout.write(`${key}\n`);
        return;
      }
      await writeSecretFile(opts.out, `${key}\n`);
      process.stderr.write(`private key written to ${opts.out} (mode 0600)\n`);
    });
}

async function readStdin(limit = 4096): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.length > limit) throw new ConegateError('CG_INPUT_INVALID', 'stdin is too long for a key');
  }
  return text;
}

export function pubkeyCommand(): Command {
  return new Command('pubkey')
    .description('read a private key (base64) on stdin, print its public key, like wg pubkey')
    .action(async () => {
      let priv: Uint8Array;
      try {
        priv = keyFromBase64(await readStdin());
      } catch (err) {
        if (err instanceof ConegateError && err.code === 'CG_INPUT_INVALID') throw new ConegateError('CG_INPUT_INVALID', 'stdin is not a base64 WireGuard private key');
        throw err;
      }
      process.stdout.write(`${keyToBase64(publicKey(priv))}\n`);
    });
}

/** An interface name from the config file's name, as wg-quick does (wg0.conf -> wg0), else cg0. */
function defaultName(file: string): string {
  const stem = basename(file).replace(/\.(conf|json)$/, '');
  return /^[A-Za-z0-9_=+.-]{1,15}$/.test(stem) ? stem : 'cg0';
}

export function wgCommand(): Command {
  const cmd = new Command('wg').description('WireGuard data plane');
  cmd
    .command('up')
    .description('bring up a plain WireGuard interface from a wg-quick-like INI or JSON file; runs until SIGINT/SIGTERM')
    .requiredOption('--config <file>', 'interface config: [Interface] PrivateKey/ListenPort/Address/MTU, [Peer] PublicKey/PresharedKey/Endpoint/AllowedIPs/PersistentKeepalive')
    .option('--interface <name>', 'interface name (default: the config file name without .conf, else cg0)')
    .option('--uapi-dir <dir>', 'directory of the UAPI socket', '/var/run/wireguard')
    .option('--json', 'print one JSON line on stdout once up, and the counters as a JSON line at exit (also on SIGUSR2)')
    .action(async (opts: { config: string; interface?: string; uapiDir: string; json?: boolean }, command: Command) => {
      const log = loggerFor(globalOptions(command));
      let text: string;
      try {
        text = await readFile(opts.config, 'utf8');
      } catch (cause) {
        throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${opts.config}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
      }
      const config = parseWgUpConfig(text, opts.config);
      const name = opts.interface ?? defaultName(opts.config);
      if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(name)) throw new ConegateError('CG_USAGE', `bad interface name ${JSON.stringify(name)}`);
      // Loaded on demand: keygen/pubkey need neither the device nor koffi.
      const { wgUp } = await import('../../wg/up.ts');
      const up = await wgUp(config, { name, uapiDir: opts.uapiDir, log });
      const info = { interface: up.name, listenPort: up.bind.localPort, publicKey: keyToBase64(publicKey(config.privateKey)), uapi: up.uapi.path };
      printResult(opts.json === true, info, () => `${up.name} up: listening on UDP ${info.listenPort}, public key ${info.publicKey}`);
      const stats = () => ({ stats: { device: up.device.stats(), bind: up.bind.stats, tun: 'stats' in up.tun ? up.tun.stats : undefined } });
      // SIGUSR2 prints the counters (drops by reason, messages, TUN and UDP packets) as one JSON line on
      // stdout; SIGUSR1 is Node's debugger signal.
      const onUsr2 = () => process.stdout.write(JSON.stringify(stats()) + '\n');
      process.on('SIGUSR2', onUsr2);
      await new Promise<void>((resolve) => {
        // The interval holds the process open whatever else is (un)ref'd; signals end the wait.
        const keepAlive = setInterval(() => undefined, 1 << 30);
        const done = () => {
          clearInterval(keepAlive);
          process.off('SIGINT', done);
          process.off('SIGTERM', done);
          resolve();
        };
        process.on('SIGINT', done);
        process.on('SIGTERM', done);
      });
      process.off('SIGUSR2', onUsr2);
      if (opts.json) onUsr2();
      log.info({ interface: up.name }, 'shutting down');
      await up.stop();
    });
  return cmd;
}

export const wgCommands = [keygenCommand, pubkeyCommand, wgCommand];
