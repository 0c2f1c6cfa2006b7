import { main, quietOnClosedPipe } from './main.js';

quietOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
