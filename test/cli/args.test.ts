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
