/** The program's entry (the bundle's `dist/conegate.js`, or the sources with CONEGATE_DEV=1): run and set the exit status. */
import { main } from './main.ts';

process.exitCode = await main(process.argv);
