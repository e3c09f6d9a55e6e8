#!/usr/bin/env node
// The netns NAT lab's CLI (test/lab): builds hostile-NAT topologies in network namespaces.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../test/lab/cli.ts');
process.exitCode = await main(process.argv);
