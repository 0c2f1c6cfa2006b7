import { describe, expect, it } from 'vitest';
import { parseArgs, usage, UsageError, type FlagSpec } from '../../src/cli/args.js';

const spec = {
  steps: { type: 'int', default: 10, help: 'steps' },
  lr: { type: 'number', default: 0.1, help: 'learning rate' },
  hint: { type: 'boolean', default: true, help: 'hint learning' },
  soft: { type: 'boolean', default: false, help: 'soft term' },
  adapter: { type: 'string', default: '1x1', choices: ['1x1', '3x3', 'none'], help: 'adapter' },
} as const satisfies Record<string, FlagSpec>;

describe('parseArgs', () => {
  it('reads values, defaults and positionals', () => {
    const { flags, positionals } = parseArgs('t', ['img.png', '--steps', '7', '--lr=0.5', '--adapter', '3x3'], spec);
    expect(flags).toEqual({ steps: 7, lr: 0.5, hint: true, soft: false, adapter: '3x3' });
    expect(positionals).toEqual(['img.png']);
  });

  it('switches booleans on and off: --flag, --no-flag, --flag=false', () => {
    expect(parseArgs('t', ['--soft', '--no-hint'], spec).flags).toMatchObject({ soft: true, hint: false });
    expect(parseArgs('t', ['--hint=false', '--soft=true'], spec).flags).toMatchObject({ soft: true, hint: false });
    // The last word wins, as with any flag.
    expect(parseArgs('t', ['--no-hint', '--hint'], spec).flags.hint).toBe(true);
  });

  it('refuses what it cannot read, naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--stepz', '3'], /unknown flag --stepz/],
      [['--no-steps'], /unknown flag --no-steps/], // not a boolean: no negation
      [['--no-hint=true'], /unknown flag --no-hint/],
      [['--steps', '2.5'], /--steps/],
      [['--steps'], /--steps needs a value/],
      [['--hint=yes'], /--hint takes true or false, got 'yes'/],
      [['--adapter', '5x5'], /--adapter must be one of 1x1, 3x3, none, got '5x5'/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseArgs('t', argv, spec), argv.join(' ')).toThrow(UsageError);
      expect(() => parseArgs('t', argv, spec), argv.join(' ')).toThrow(message);
    }
  });

  it('documents the negated form in the usage text', () => {
    const text = usage('t', 'a test', spec);
    expect(text).toContain('--hint, --no-hint  hint learning (default true)');
    expect(text).toContain('--steps <int>  steps (default 10)');
  });
});

describe('ranges', () => {
  const ranged = {
    batch: { type: 'int', default: 4, min: 1, help: 'images per step' },
    mu: { type: 'number', default: 0.5, min: 0, max: 1, help: 'μ' },
    lr: { type: 'number', default: 0.1, min: 0, minExclusive: true, help: 'lr' },
  } as const satisfies Record<string, FlagSpec>;

  it('refuses values outside a flag’s range, saying the range', () => {
    const bad: [string[], string][] = [
      [['--batch', '0'], "t: --batch must be an integer ≥ 1, got '0'"],
      [['--batch', '9007199254740993'], "t: --batch must be an integer ≥ 1, got '9007199254740993'"], // not a safe integer
      [['--mu', '7'], "t: --mu must be a number in [0, 1], got '7'"],
      [['--mu', '-0.1'], "t: --mu must be a number in [0, 1], got '-0.1'"],
      [['--lr', '0'], "t: --lr must be a number > 0, got '0'"],
      [['--lr', 'NaN'], "t: --lr must be a number > 0, got 'NaN'"],
      [['--lr', 'Infinity'], "t: --lr must be a number > 0, got 'Infinity'"],
    ];
    for (const [argv, message] of bad) expect(() => parseArgs('t', argv, ranged), argv.join(' ')).toThrow(`kdet ${message}`);
    expect(parseArgs('t', ['--batch', '1', '--mu', '0', '--lr', '1e-9'], ranged).flags).toEqual({ batch: 1, mu: 0, lr: 1e-9 });
  });

  it('answers near misses, stray words and missing values by name', () => {
    expect(() => parseArgs('t', ['--bach', '2'], ranged)).toThrow("kdet t: unknown flag --bach — did you mean --batch? (see kdet t --help)");
    expect(() => parseArgs('t', ['-batch', '2'], ranged)).toThrow('kdet t: unknown flag -batch — did you mean --batch?');
    expect(() => parseArgs('t', ['batch', '2'], ranged, { positionals: 0 })).toThrow("kdet t: unexpected argument 'batch' — did you mean --batch?; kdet t takes flags only");
    expect(() => parseArgs('t', ['--batch', '--mu', '1'], ranged)).toThrow('kdet t: --batch needs a value, got the flag --mu');
    expect(() => parseArgs('t', ['--adapter', '1X1'], spec)).toThrow("got '1X1' — did you mean '1x1'?");
    expect(parseArgs('t', ['-h'], { ...ranged, help: { type: 'boolean', default: false, help: 'help' } }).flags.help).toBe(true);
  });

  it('shows ranges in the usage text', () => {
    const text = usage('t', 'a test', ranged);
    expect(text).toContain('--batch <int ≥ 1>  images per step (default 4)');
    expect(text).toContain('--mu <number 0..1>  μ (default 0.5)');
    expect(text).toContain('--lr <number > 0>  lr (default 0.1)');
  });
});
