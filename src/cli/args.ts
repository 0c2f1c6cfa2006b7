/**
 * A small, strict flag parser: `--name value`, `--name=value`, boolean `--flag`, `--no-flag` or
 * `--flag=false`, positionals.
 * Unknown flags and bad values are errors that name the flag, so a typo never silently runs a
 * default.
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
}

export type Flags<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K]['type'] extends 'boolean' ? boolean : S[K]['type'] extends 'string' ? string : number;
};

export function parseArgs<S extends Record<string, FlagSpec>>(command: string, argv: readonly string[], spec: S): { flags: Flags<S>; positionals: string[] } {
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (const [k, s] of Object.entries(spec)) if (s.default !== undefined) flags[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    // `--no-hint` switches a boolean off (when no flag is itself called `no-hint`).
    const negated = !spec[name] && name.startsWith('no-') && eq < 0 && spec[name.slice(3)]?.type === 'boolean';
    if (negated) {
      flags[name.slice(3)] = false;
      continue;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`kdet ${command}: unknown flag --${name} (see kdet ${command} --help)`);
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
      raw = next;
    }
    if (s.type === 'string') {
      if (s.choices && !s.choices.includes(raw)) throw new UsageError(`kdet ${command}: --${name} must be one of ${s.choices.join(', ')}, got '${raw}'`);
      flags[name] = raw;
    } else {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v) || (s.type === 'int' && !Number.isInteger(v))) {
        throw new UsageError(`kdet ${command}: --${name} must be ${s.type === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
      }
      flags[name] = v;
    }
  }
  return { flags: flags as Flags<S>, positionals };
}

export function usage(command: string, summary: string, spec: Record<string, FlagSpec>, positional = ''): string {
  const lines = [`kdet ${command}${positional ? ' ' + positional : ''} [flags]`, '', summary, '', 'Flags:'];
  for (const [k, s] of Object.entries(spec)) {
    const def = s.default !== undefined ? ` (default ${JSON.stringify(s.default)})` : '';
    const ch = s.choices ? ` [${s.choices.join('|')}]` : '';
    const name = s.type === 'boolean' ? `${k}, --no-${k}` : `${k} <${s.type}>`;
    lines.push(`  --${name}${ch}  ${s.help}${def}`);
  }
  return lines.join('\n');
}
