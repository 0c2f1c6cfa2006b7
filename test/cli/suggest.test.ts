import { describe, expect, it } from 'vitest';
import { commandName, errorLine } from '../../src/cli/main.js';
import { closest, didYouMean, editDistance } from '../../src/cli/suggest.js';

describe('did you mean', () => {
  it('measures edits, a swap of neighbours counting one', () => {
    expect(editDistance('distil', 'distill')).toBe(1);
    expect(editDistance('step', 'steps')).toBe(1);
    expect(editDistance('stpes', 'steps')).toBe(1);
    expect(editDistance('Steps', 'steps')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests only what is close', () => {
    const commands = ['train', 'distill', 'experiment', 'eval', 'detect', 'export', 'show-data'];
    expect(closest('distil', commands)).toEqual(['distill']);
    expect(closest('trian', commands)).toEqual(['train']);
    expect(closest('expot', commands)).toEqual(['export']);
    expect(closest('showdata', commands)).toEqual(['show-data']);
    expect(closest('frobnicate', commands)).toEqual([]);
    expect(closest('run', commands)).toEqual([]);
    const flags = ['steps', 'seed', 'size', 'train-size', 'test-size', 'eval-every', 'lr'];
    expect(closest('step', flags)).toEqual(['steps']);
    expect(closest('train', flags)).toEqual(['train-size']); // the one flag it starts
    expect(closest('nope', flags)).toEqual([]);
    expect(didYouMean('sed', flags, (c) => `--${c}`)).toBe(' — did you mean --seed?');
    expect(didYouMean('xyzzy', flags)).toBe('');
  });
});

describe('errorLine', () => {
  it('prefixes every error with its command, once, on one line', () => {
    expect(errorLine('eval', "--checkpoint 'x' cannot be read: ENOENT")).toBe("kdet eval: --checkpoint 'x' cannot be read: ENOENT");
    expect(errorLine('train', 'kdet train: --batch must be ...')).toBe('kdet train: --batch must be ...');
    expect(errorLine('experiment ablation', 'kdet experiment ablation: run x failed')).toBe('kdet experiment ablation: run x failed');
    expect(errorLine('experiment ablation', "--teacher 'x' cannot be read: ENOENT")).toBe("kdet experiment ablation: --teacher 'x' cannot be read: ENOENT");
    expect(commandName('experiment', ['ablation', '--seeds', '0'])).toBe('experiment ablation');
    expect(commandName('experiment', ['ablaton'])).toBe('experiment');
    expect(commandName('train', ['--steps', '5'])).toBe('train');
    expect(errorLine('show-data', 'kdet show-data: x')).toBe('kdet show-data: x');
    expect(errorLine('distill', 'kdet.Distiller: a\n  b')).toBe('kdet distill: kdet.Distiller: a b');
  });
});
