import { closest, didYouMean } from './suggest.js';

/**
 * A small, strict flag parser: `--name value`, `--name=value`, boolean `--flag`, `--no-flag` or
 * `--flag=false`, positionals.
 * Unknown flags and bad values are errors that name the flag, so a typo never silently runs a
 * default; a near miss is answered with the flag that was probably meant. Numeric flags carry
 * their range, checked here, so that no command starts work on a value it cannot use.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  type: 'string' | 'number' | 'int' | 'boolean';
  default?: string | number | boolean;
  help: string;
  choices?: readonly string[];
  /** Smallest value a number or int flag takes (inclusive, or exclusive with minExclusive). */
  min?: number;
  minExclusive?: boolean;
  /** Largest value a number or int flag takes (inclusive). */
  max?: number;
}

export type Flags<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : S[K]['type'] extends 'string' ? string : number;
};

export interface ParseOptions {
  /** How many positionals the command takes (default: any number); more are an error. */
  positionals?: number;
}

/** What a number flag accepts, in words: "an integer ≥ 1", "a number in [0, 1]", "a number > 0". */
export function describeRange(s: FlagSpec): string {
  const kind = s.type === 'int' ? 'an integer' : 'a number';
  const { min, max } = s;
  if (min !== undefined && max !== undefined && !s.minExclusive) return `${kind} in [${min}, ${max}]`;
  if (min !== undefined && max !== undefined) return `${kind} in (${min}, ${max}]`;
  if (min !== undefined) return `${kind} ${s.minExclusive ? '>' : '≥'} ${min}`;
  if (max !== undefined) return `${kind} ≤ ${max}`;
  return kind;
}

function inRange(v: number, s: FlagSpec): boolean {
  if (s.min !== undefined && (s.minExclusive ? v <= s.min : v < s.min)) return false;
  if (s.max !== undefined && v > s.max) return false;
  return true;
}

export function parseArgs<S extends Record<string, FlagSpec>>(command: string, argv: readonly string[], spec: S, options: ParseOptions = {}): { flags: Flags<S>; positionals: string[]; given: ReadonlySet<keyof S & string> } {
  const flags: Record<string, unknown> = {};
  // The flags set on the command line (a value equal to the default included): a preset such as
  // `kdet distill --recipe` gives way only to these.
  const given = new Set<string>();
  const positionals: string[] = [];
  const see = `(see kdet ${command} --help)`;
  const flagNames = () => [...Object.keys(spec), ...Object.entries(spec).filter(([, s]) => s.type === 'boolean').map(([k]) => `no-${k}`)];
  for (const [k, s] of Object.entries(spec)) if (s.default !== undefined) flags[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' && spec.help?.type === 'boolean') {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      // A single-dash word that is not a number is a flag typed with one dash.
      if (/^-[^\d.]/.test(arg)) {
        const name = arg.replace(/^-+/, '').split('=')[0]!;
        const hint = name in spec || flagNames().includes(name) ? ` — did you mean --${name}?` : didYouMean(name, flagNames(), (c) => `--${c}`);
        throw new UsageError(`kdet ${command}: unknown flag ${arg.split('=')[0]}${hint} ${see}`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    // `--no-hint` switches a boolean off (when no flag is itself called `no-hint`).
    const negated = !spec[name] && name.startsWith('no-') && eq < 0 && spec[name.slice(3)]?.type === 'boolean';
    if (negated) {
      flags[name.slice(3)] = false;
      given.add(name.slice(3));
      continue;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`kdet ${command}: unknown flag --${name}${didYouMean(name, flagNames(), (c) => `--${c}`)} ${see}`);
    given.add(name);
    let raw: string;
    if (s.type === 'boolean') {
      raw = eq >= 0 ? arg.slice(eq + 1) : 'true';
      if (raw !== 'true' && raw !== 'false') throw new UsageError(`kdet ${command}: --${name} takes true or false, got '${raw}'`);
      flags[name] = raw === 'true';
      continue;
    }
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`kdet ${command}: --${name} needs a value`);
      // `--out --steps 5`: the value is missing, not a folder called --steps (--out=--x still works).
      if (next.startsWith('--')) throw new UsageError(`kdet ${command}: --${name} needs a value, got the flag ${next.split('=')[0]}`);
      raw = next;
    }
    if (s.type === 'string') {
      if (s.choices && !s.choices.includes(raw)) throw new UsageError(`kdet ${command}: --${name} must be one of ${s.choices.join(', ')}, got '${raw}'${didYouMean(raw, s.choices, (c) => `'${c}'`)}`);
      flags[name] = raw;
    } else {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || (s.type === 'int' && !Number.isSafeInteger(v)) || !inRange(v, s)) {
        throw new UsageError(`kdet ${command}: --${name} must be ${describeRange(s)}, got '${raw}'`);
      }
      flags[name] = v;
    }
  }
  const max = options.positionals;
  if (max !== undefined && positionals.length > max && !flags.help) {
    const extra = positionals[max]!;
    // `kdet train steps 5`: a flag written without its dashes.
    const asFlag = Object.keys(spec).includes(extra) ? ` — did you mean --${extra}?` : didYouMean(extra, Object.keys(spec), (c) => `--${c}`);
    throw new UsageError(`kdet ${command}: unexpected argument '${extra}'${asFlag}${max === 0 ? `; kdet ${command} takes flags only` : ''} ${see}`);
  }
  return { flags: flags as Flags<S>, positionals, given: given as ReadonlySet<keyof S & string> };
}

/** The near misses of `word` among `candidates` (re-exported for commands' own checks). */
export { closest };

/** A number flag's range for the usage text: ` 32..1024`, ` ≥ 1`, ` > 0`; '' if it has none. */
function rangeHint(s: FlagSpec): string {
  if (s.type !== 'number' && s.type !== 'int') return '';
  if (s.min !== undefined && s.max !== undefined) return s.minExclusive ? ` > ${s.min}, ≤ ${s.max}` : ` ${s.min}..${s.max}`;
  if (s.min !== undefined) return ` ${s.minExclusive ? '>' : '≥'} ${s.min}`;
  if (s.max !== undefined) return ` ≤ ${s.max}`;
  return '';
}

export function usage(command: string, summary: string, spec: Record<string, FlagSpec>, positional = ''): string {
  const lines = [`kdet ${command}${positional ? ' ' + positional : ''} [flags]`, '', summary, '', 'Flags:'];
  for (const [k, s] of Object.entries(spec)) {
    const def = s.default !== undefined ? ` (default ${JSON.stringify(s.default)})` : '';
    const ch = s.choices ? ` [${s.choices.join('|')}]` : '';
    const name = s.type === 'boolean' ? `${k}, --no-${k}` : `${k} <${s.type}${rangeHint(s)}>`;
    lines.push(`  --${name}${ch}  ${s.help}${def}`);
  }
  return lines.join('\n');
}
