/**
 * `conegate-lab` (bin/conegate-lab.js): the lab's CLI.
 *   demo [--json]                      build the demo topology, measure, change, measure again, tear down
 *   grid [--json]                      hole punching across every pair of NAT presets (lab vs model)
 *   matrix [--json] [--out FILE] [--router-nat] [--early]
 *                                      the mesh NAT matrix: one node per NAT kind, every pair's path
 *   up (--preset NAME | --spec FILE)   build a lab and leave it running (state in /run/conegate-lab/)
 *   down (ID... | --all)               tear down labs made by `up`
 *   list [--json]                      labs made by `up` and their namespaces
 *   presets                            topology and NAT presets
 * Exit status: 0 ok, 1 operation failed, 2 bad usage or bad spec.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConegateError, exitStatusOf, isConegateError } from '../../agent/src/errors.ts';
import { DEMO_SPEC, runDemo } from './demo.ts';
import { formatGrid, gridSpec, runGrid } from './grid.ts';
import { formatMatrix, runMatrixLab } from './mesh-matrix.ts';
import { createLab, destroyAllLabs } from './lab.ts';
import { LAB_PRESETS, NAT_PRESETS, type LabSpec } from './spec.ts';
import { downLabs, listLabs, saveLabState } from './state.ts';

function loadSpec(opts: { preset?: string; spec?: string }): LabSpec {
  if (opts.preset && opts.spec) throw new ConegateError('CG_USAGE', 'give --preset or --spec, not both');
  if (opts.preset) {
    const p = LAB_PRESETS[opts.preset];
    if (!p) throw new ConegateError('CG_USAGE', `unknown preset "${opts.preset}" (known: ${Object.keys(LAB_PRESETS).join(', ')})`);
    return p;
  }
  if (!opts.spec) throw new ConegateError('CG_USAGE', 'give --preset NAME or --spec FILE');
  let text: string;
  try {
    text = readFileSync(opts.spec, 'utf8');
  } catch (err) {
    throw new ConegateError('CG_CONFIG_UNREADABLE', `cannot read ${opts.spec}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as LabSpec;
  } catch (err) {
    throw new ConegateError('CG_CONFIG_INVALID', `${opts.spec} is not JSON: ${(err as Error).message}`);
  }
}

function buildProgram(): Command {
  const program = new Command('conegate-lab')
    .description('netns NAT lab: build hostile-NAT topologies in network namespaces')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('demo')
    .description('two sites behind different NATs: measure what each NAT does, apply a change, measure again')
    .option('--json', 'print one JSON report on stdout (progress on stderr)')
    .action(async (opts: { json?: boolean }) => {
      const lab = await createLab(DEMO_SPEC);
      try {
        const print = (line: string) => (opts.json ? process.stderr : process.stdout).write(line + '\n');
        print('conegate lab demo: what the NATs in front of two sites do, and what conegate changes');
        print('');
        const report = await runDemo(lab, { print });
        if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        // A mesh stage that could not run to its end is a failed demo, after its report.
        if (report.mesh?.error) process.exitCode = 1;
      } finally {
        await lab.destroy();
      }
    });

  program
    .command('grid')
    .description('direct UDP between every pair of NAT presets, measured and predicted by the model')
    .option('--json', 'print the cells as JSON')
    .action(async (opts: { json?: boolean }) => {
      const lab = await createLab(gridSpec());
      try {
        const cells = await runGrid(lab);
        if (opts.json) process.stdout.write(JSON.stringify(cells, null, 2) + '\n');
        else process.stdout.write(formatGrid(cells).join('\n') + '\n');
        if (cells.some((c) => c.measured !== c.predicted)) process.exitCode = 1;
      } finally {
        await lab.destroy();
      }
    });

  program
    .command('matrix')
    .description('the mesh NAT matrix: coordinator, relay and one `conegate up` node per NAT kind in one lab; every pair direct or relayed, and why')
    .option('--json', 'print the report as JSON (the table goes to stderr)')
    .option('--out <file>', 'write the JSON report here (default bench/results/mesh-matrix.json, or mesh-matrix-router-nat.json with --router-nat)')
    .option('--budget <seconds>', 'how long every pair may take to go direct', '45')
    .option('--router-nat', 'second pass: `conegate nat apply` (endpoint-independent mapping) on the hard sites\' routers first')
    .option('--early', 'ping as soon as every agent has its mesh address, before every map has every peer\'s relay')
    .action(async (opts: { json?: boolean; out?: string; budget: string; routerNat?: boolean; early?: boolean }) => {
      const out = opts.out ?? `bench/results/mesh-matrix${opts.routerNat ? '-router-nat' : ''}.json`;
      const budget = Number(opts.budget);
      if (!Number.isInteger(budget) || budget < 5 || budget > 300) throw new ConegateError('CG_USAGE', '--budget must be 5..300 seconds');
      const dir = mkdtempSync(join(process.env.CONEGATE_LAB_RUNDIR ?? tmpdir(), 'mesh-matrix-'));
      const report = await runMatrixLab(dir, { budgetMs: budget * 1000, routerNat: opts.routerNat === true, early: opts.early === true, log: (l) => process.stderr.write(`${l}\n`) });
      const json = JSON.stringify(report, null, 2);
      writeFileSync(join(dir, 'mesh-matrix.json'), json);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, json + '\n');
      (opts.json ? process.stderr : process.stdout).write(`${formatMatrix(report).join('\n')}\n(report in ${out}; process logs in ${dir})\n`);
      if (opts.json) process.stdout.write(json + '\n');
      if (report.cells.some((c) => !c.ok && !c.known)) process.exitCode = 1;
    });

  program
    .command('up')
    .description('build a lab and leave it running; prints its nodes and namespaces')
    .option('--preset <name>', `topology preset (${Object.keys(LAB_PRESETS).join(', ')})`)
    .option('--spec <file>', 'JSON lab spec (see test/lab/README.md)')
    .option('--json', 'print the lab as JSON')
    .action(async (opts: { preset?: string; spec?: string; json?: boolean }) => {
      const lab = await createLab(loadSpec(opts));
      const nodes = lab.nodeNames().map((n) => lab.node(n));
      saveLabState(lab);
      lab.detach();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ id: lab.id, nodes }, null, 2) + '\n');
        return;
      }
      process.stdout.write(`lab ${lab.id} is up (remove with: conegate-lab down ${lab.id})\n`);
      for (const n of nodes) {
        const addrs = n.ifaces.map((i) => `${i.name} ${[i.v4, i.v6].filter(Boolean).join(' ')}`).join(', ');
        const nat = n.nat ? `  nat ${n.nat.mapping}/${n.nat.filtering}${n.nat.hairpin ? '/hairpin' : ''}` : '';
        process.stdout.write(`  ${n.name.padEnd(14)} ${n.netns.padEnd(24)} ${addrs}${n.alt4 ? ` alt ${n.alt4}` : ''}${nat}\n`);
      }
      process.stdout.write(`run a command: ip netns exec ${nodes[0]?.netns ?? ''} ip addr\n`);
    });

  program
    .command('down')
    .description('tear down labs made by `up`')
    .argument('[ids...]', 'lab ids')
    .option('--all', 'every lab recorded by `up`')
    .action(async (ids: string[], opts: { all?: boolean }) => {
      if (!opts.all && ids.length === 0) throw new ConegateError('CG_USAGE', 'give lab ids or --all');
      const removed = await downLabs(opts.all ? undefined : ids);
      process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'nothing to remove\n');
    });

  program
    .command('list')
    .description('labs made by `up`')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) => {
      const labs = await listLabs();
      if (opts.json) process.stdout.write(JSON.stringify(labs, null, 2) + '\n');
      else if (labs.length === 0) process.stdout.write('no labs\n');
      else for (const l of labs) process.stdout.write(`${l.id}  ${l.namespaces.length} namespaces  created ${l.createdAt}\n`);
    });

  program
    .command('presets')
    .description('topology and NAT presets')
    .action(() => {
      process.stdout.write(`topology presets: ${Object.keys(LAB_PRESETS).join(', ')}\n`);
      for (const [name, nat] of Object.entries(NAT_PRESETS)) process.stdout.write(`nat preset ${name.padEnd(18)} mapping ${nat.mapping}, filtering ${nat.filtering}, hairpin ${nat.hairpin}\n`);
    });
  return program;
}

/** Runs the CLI; returns the exit status. SIGINT/SIGTERM tear down every lab being built or used first. */
export async function main(argv: string[]): Promise<number> {
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`conegate-lab: ${sig}, tearing down\n`);
    void destroyAllLabs().finally(() => process.exit(130));
  };
  // `on`, not `once`: the lab library leaves signals to the program while another listener is present.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await buildProgram().parseAsync(argv);
    // Commands that report a failure after their output (demo, grid) set process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      return 2;
    }
    if (isConegateError(err)) {
      process.stderr.write(`conegate-lab: ${err.message}\n`);
      return exitStatusOf(err);
    }
    process.stderr.write(`conegate-lab: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
