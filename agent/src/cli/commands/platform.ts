/** `conegate platform`: which appliance this is (or what a copied tree was). */
import { Command } from 'commander';
import { detectPlatform } from '../../platform/detect.ts';
import { printResult } from '../context.ts';

export function platformCommand(): Command {
  return new Command('platform')
    .description('detect the platform: OPNsense, pfSense, FreeBSD, UniFi OS or generic Linux')
    .option('--root <dir>', 'detect on a copied file tree instead of this host', '/')
    .option('--json', 'machine-readable output')
    .action(async (opts: { root: string; json?: boolean }) => {
      const info = await detectPlatform(opts.root);
      printResult(opts.json === true, info, () => `${info.name} (${info.kind})\nconfig: ${info.conegateConfig}\nevidence: ${info.evidence.join(', ') || 'none'}`);
      if (info.kind === 'unknown') process.exitCode = 1;
    });
}
