import { KdetError } from '../engine/errors.js';
import { UsageError } from './args.js';

const COMMANDS: Record<string, { summary: string; run: () => Promise<(argv: string[]) => Promise<void>> }> = {
  train: { summary: 'train a Faster R-CNN on a built-in data set', run: async () => (await import('./commands/train.js')).train },
  distill: { summary: 'distil a student from a trained teacher', run: async () => (await import('./commands/distill.js')).distill },
  experiment: { summary: 'the paper’s ablation in miniature (experiment ablation)', run: async () => (await import('./commands/experiment.js')).experiment },
  eval: { summary: 'VOC and COCO metrics of a checkpoint on its held-out split', run: async () => (await import('./commands/eval.js')).evalCommand },
  detect: { summary: 'detect objects in a PNG/JPEG and draw them (detect <image> -o out.png)', run: async () => (await import('./commands/detect.js')).detectCommand },
  export: { summary: 'export a detector for torchvision (continue in PyTorch)', run: async () => (await import('./commands/export.js')).exportCommand },
  'show-data': { summary: 'draw scenes of a data set with their boxes into a PNG', run: async () => (await import('./commands/show-data.js')).showData },
};

function help(): string {
  return ['kdet — train and distil Faster R-CNN detectors in any JavaScript runtime', '', 'Commands:', ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(12)} ${c.summary}`), '', 'kdet <command> --help for its flags.'].join('\n');
}

/** The CLI: errors a user can fix are one line on stderr and exit code 2; bugs keep their stack. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === 'help') {
    console.log(help());
    return 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    console.error(`kdet: unknown command '${cmd}'\n\n${help()}`);
    return 2;
  }
  try {
    await (await entry.run())(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof KdetError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
}
