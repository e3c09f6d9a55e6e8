#!/usr/bin/env node
// Development entry: runs the TypeScript sources through tsx. Appliance packages ship an esbuild bundle instead.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../agent/src/cli/main.ts');
process.exitCode = await main(process.argv);
