import { KdetError } from '../engine/errors.js';
import { UsageError } from './args.js';
import { didYouMean } from './suggest.js';

const COMMANDS: Record<string, { summary: string; run: () => Promise<(argv: string[]) => Promise<void>> }> = {
  train: { summary: 'train a Faster R-CNN on the built-in scenes or your VOC / COCO data', run: async () => (await import('./commands/train.js')).train },
  pretrain: { summary: 'pre-train a preset\'s backbone as a Fashion-MNIST classifier (--backbone-from of train/distill)', run: async () => (await import('./commands/pretrain.js')).pretrain },
  distill: { summary: 'distil a student from a trained teacher', run: async () => (await import('./commands/distill.js')).distill },
  experiment: { summary: 'the paper’s ablation in miniature (experiment ablation)', run: async () => (await import('./commands/experiment.js')).experiment },
  eval: { summary: 'VOC and COCO metrics of a checkpoint on held-out data; COCO results out', run: async () => (await import('./commands/eval.js')).evalCommand },
  detect: { summary: 'detect objects in PNG/JPEG files or folders and draw them (detect <image> -o out.png)', run: async () => (await import('./commands/detect.js')).detectCommand },
  export: { summary: 'export a detector for torchvision (continue in PyTorch)', run: async () => (await import('./commands/export.js')).exportCommand },
  import: { summary: 'import a torchvision Faster R-CNN (.pth or .safetensors state_dict) for detect / eval', run: async () => (await import('./commands/import.js')).importCommand },
  'show-data': { summary: 'draw images of a data set with their boxes into a PNG', run: async () => (await import('./commands/show-data.js')).showData },
  'export-data': { summary: 'write built-in scenes as a VOC folder or COCO JSON', run: async () => (await import('./commands/export-data.js')).exportData },
};

function help(): string {
  return ['kdet — train and distil Faster R-CNN detectors in any JavaScript runtime', '', 'Commands:', ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(12)} ${c.summary}`), '', 'kdet <command> --help for its flags.'].join('\n');
}

/** The name errors are prefixed with: the command, and for `experiment` its experiment. */
export function commandName(cmd: string, rest: readonly string[]): string {
  return cmd === 'experiment' && rest.includes('ablation') ? 'experiment ablation' : cmd;
}

/**
 * An error's message as the one line the user sees: `kdet <command>: <what>`. Messages already
 * written that way keep their prefix; others get it. Line breaks are folded, so an error is
 * always exactly one line.
 */
export function errorLine(command: string, message: string): string {
  const text = message.replace(/\s*\n\s*/g, ' ').trim();
  return text.startsWith(`kdet ${command}: `) ? text : `kdet ${command}: ${text}`;
}

/**
 * For the command's own process (not in-process callers): a reader that stops early (`kdet eval
 * | head`) closes the pipe; stop quietly, as Unix tools do, rather than with an EPIPE stack trace.
 */
export function quietOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/**
 * The CLI. Every failure a user can fix (a bad flag, an unreadable or wrong file, an output folder
 * that cannot be written) is one line on stderr, `kdet <command>: ...`, and exit code 2; anything
 * else is a bug and keeps its stack.
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(help());
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!entry) {
    const names = Object.keys(COMMANDS);
    const hint = didYouMean(cmd, names, (c) => `'${c}'`);
    console.error(`kdet: unknown command '${cmd}'${hint || ` (commands: ${names.join(', ')}; see kdet --help)`}`);
    return 2;
  }
  try {
    await (await entry.run())(rest);
    return 0;
  } catch (e) {
    // A DataError (src/data: a bad annotation, image or data file) is the user's data, not a bug;
    // matched by name so that this module does not load the data layer.
    if (e instanceof UsageError || e instanceof KdetError || (e instanceof Error && e.name === 'DataError')) {
      console.error(errorLine(commandName(cmd, rest), e.message));
      return 2;
    }
    throw e;
  }
}
