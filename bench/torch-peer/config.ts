/**
 * Prints the model config of a `kdet train --preset` as JSON, for train_torchvision.py.
 * Usage: node scripts/run.mjs bench/torch-peer/config.ts --preset student [--classes 10] > student.json
 */
import { parseArgs, usage, UsageError, type FlagSpec } from '../../src/cli/args.js';
import { MODEL_PRESETS, modelConfig } from '../../src/cli/presets.js';

const flags = {
  preset: { type: 'string', default: 'teacher', choices: MODEL_PRESETS, help: 'model preset' },
  // What `kdet train` passes: the data set's class count (fashion 10, shapes 6).
  classes: { type: 'int', default: 10, help: 'foreground classes (fashion 10, shapes 6)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

try {
  const { flags: f } = parseArgs('torch-peer config', process.argv.slice(2), flags);
  if (f.help) console.log(usage('torch-peer config', 'Print the Faster R-CNN config of a preset as JSON.', flags));
  else console.log(JSON.stringify({ preset: f.preset, ...modelConfig(f.preset, f.classes) }, null, 2));
} catch (e) {
  console.error(e instanceof UsageError ? e.message : e);
  process.exit(2);
}
