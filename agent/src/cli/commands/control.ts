/**
 * `conegate control '<json request>'`: one control-socket command, its answer on stdout as JSON.
 * The appliance pages (OPNsense configd action, pfSense PHP) call it for every page operation; the
 * request is checked against the command's schema here first, so a bad request is exit 2 before the
 * agent is asked, and an error answer exits with the status of its code.
 *
 * `conegate web token [--rotate]`: the agent page's login token (created 0600 on first use).
 */
import { Command } from 'commander';
import { controlRequest } from '../../service/control-client.ts';
import { parseControlRequest } from '../../service/control-protocol.ts';
import { controlSocketOf, stateDirOf } from '../../service/paths.ts';
import { detectPlatform } from '../../platform/detect.ts';
import { ensureToken, rotateToken, tokenFileOf } from '../../web/token.ts';
import { globalOptions, printResult, resolveConfig } from '../context.ts';
import { applyUpFlags } from './up.ts';

const CONFIG_HELP = 'config file (default: CONEGATE_CONFIG, then the platform default)';

export function controlCommand(): Command {
  return new Command('control')
    .description('send one JSON request to the running agent\'s control socket and print the answer (the appliance pages use it)')
    .argument('<request>', 'the request, e.g. \'{"cmd":"page"}\' or \'{"cmd":"pmp-delete","client":"192.168.1.10","protocol":"udp","internalPort":5555}\'')
    .option('--config <file>', CONFIG_HELP)
    .option('--state-dir <dir>', 'state dir of the agent to talk to (mesh.stateDir)')
    .option('--timeout-sec <n>', 'how long to wait for the answer', '90')
    .action(async (request: string, f: { stateDir?: string; timeoutSec: string }, c: Command) => {
      const req = parseControlRequest(request);
      const timeoutSec = /^\d{1,4}$/.test(f.timeoutSec) ? Number(f.timeoutSec) : NaN;
      if (!(timeoutSec >= 1 && timeoutSec <= 3600)) throw new (await import('../../errors.ts')).ConegateError('CG_USAGE', `--timeout-sec ${f.timeoutSec}: give whole seconds 1-3600`);
      const config = applyUpFlags((await resolveConfig(globalOptions(c))).config, { ...(f.stateDir ? { stateDir: f.stateDir } : {}) });
      const { id: _id, cmd, ...params } = req;
      const result = await controlRequest(controlSocketOf(config), cmd, timeoutSec * 1000, params);
      printResult(true, result, () => '');
    });
}

export function webCommand(): Command {
  const web = new Command('web').description('the agent\'s own web page (UniFi OS, Linux): its login token');
  web
    .command('token')
    .description('print the page\'s login token (created on first use, 0600); --rotate replaces it and ends every session')
    .option('--rotate', 'replace the token')
    .option('--config <file>', CONFIG_HELP)
    .option('--state-dir <dir>', 'state dir of the agent (mesh.stateDir)')
    .option('--json', 'machine-readable output')
    .action(async (f: { rotate?: boolean; stateDir?: string; json?: boolean }, c: Command) => {
      const config = applyUpFlags((await resolveConfig(globalOptions(c))).config, { ...(f.stateDir ? { stateDir: f.stateDir } : {}) });
      const file = tokenFileOf(config, stateDirOf(config, (await detectPlatform('/')).kind));
      const token = f.rotate ? await rotateToken(file) : await ensureToken(file);
      printResult(f.json === true, { token, file, rotated: f.rotate === true }, () => token);
    });
  return web;
}
