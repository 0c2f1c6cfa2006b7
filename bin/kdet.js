#!/usr/bin/env node
// The kdet command: runs the bundled CLI (npm run build writes dist/cli.js).
import { main, quietOnClosedPipe } from '../dist/cli.js';

quietOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
