/**
 * Every top-level subcommand, in the order --help lists them. Each area adds one line here and keeps
 * its command in its own file (commands/<area>.ts), so areas never edit each other's files.
 */
import type { Command } from 'commander';
import { configCommand } from './config.ts';
import { platformCommand } from './platform.ts';
import { netcheckCommand } from './netcheck.ts';
import { pfCommand } from './pf.ts';
import { pmpCommand } from './pmp.ts';
import { portmapCommand } from './portmap.ts';
import { stunCommand } from './stun.ts';
import { ipsCommand } from './ips.ts';
import { wgCommands } from './wg.ts';
import { upCommands } from './up.ts';
import { coordCommand } from './coord.ts';

export const COMMANDS: (() => Command)[] = [
  configCommand,
  platformCommand,
  netcheckCommand,
  pfCommand,
  pmpCommand,
  portmapCommand,
  stunCommand,
  ipsCommand,
  ...wgCommands,
  ...upCommands,
  coordCommand,
];
