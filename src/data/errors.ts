/**
 * The data layer's one error type for bad input data. Every expected failure
 * of a user's data set (a malformed annotation, a missing image, a box that
 * cannot be trained on, an undecodable file) throws a DataError, so that a
 * caller such as the CLI can print `err.message` as one line and exit 2
 * instead of a stack trace; anything else is a bug and keeps its stack.
 */

export class DataError extends Error {
  /** The file at fault (as the reader was given it). */
  readonly file: string;
  /**
   * Where in the file, when known: an XML element path with XPath's 1-based
   * indices (`annotation/object[3]/bndbox/xmax`), a JSON path with 0-based
   * array indices (`annotations[17].bbox`), or `line:column`.
   */
  readonly where: string | undefined;
  /** What is wrong, without the file and place. */
  readonly what: string;

  constructor(file: string, where: string | undefined, what: string, options?: { cause?: unknown }) {
    super(where ? `${file}: ${where}: ${what}` : `${file}: ${what}`, options);
    this.name = 'DataError';
    this.file = file;
    this.where = where;
    this.what = what;
  }
}

export function isDataError(e: unknown): e is DataError {
  return e instanceof DataError;
}

/** 1-based line and column of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  const end = Math.max(0, Math.min(offset, text.length));
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: end - start + 1 };
}

/**
 * Parses JSON, turning a syntax error into a DataError at `line:column` of
 * the first bad character. Engines word (and place) syntax errors
 * differently, and V8 gives no position for some, so on failure the text is
 * rescanned by `jsonSyntaxError` to find the place.
 */
export function parseJsonText(text: string, file: string): unknown {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte-order mark (Windows tools)
  try {
    return JSON.parse(src);
  } catch (e) {
    const found = jsonSyntaxError(src);
    const offset = found?.offset ?? Number(/at position (\d+)/.exec((e as Error).message)?.[1] ?? NaN);
    const lc = Number.isFinite(offset) ? lineColumn(src, offset) : undefined;
    const what = found?.what ?? (e as Error).message.replace(/, ".*" is not valid JSON$/s, '');
    throw new DataError(file, lc ? `${lc.line}:${lc.column}` : undefined, `malformed JSON: ${what}`, { cause: e });
  }
}

/** The first JSON syntax error in `s` (offset and description), or undefined when it is valid. */
export function jsonSyntaxError(s: string): { offset: number; what: string } | undefined {
  let p = 0;
  class Stop {
    constructor(readonly offset: number, readonly what: string) {}
  }
  const ch = (): string => (p < s.length ? JSON.stringify(s[p]) : 'the end of the file');
  const fail = (want: string): never => {
    throw new Stop(p, `expected ${want}, found ${ch()}`);
  };
  const ws = (): void => {
    while (p < s.length && (s[p] === ' ' || s[p] === '\t' || s[p] === '\n' || s[p] === '\r')) p++;
  };
  const string = (): void => {
    p++; // opening quote
    for (;;) {
      if (p >= s.length) throw new Stop(p, 'unterminated string');
      const c = s.charCodeAt(p);
      if (c === 0x22) return void p++;
      if (c < 0x20) throw new Stop(p, 'control character in a string (a raw newline or tab must be escaped)');
      if (c === 0x5c) {
        p++;
        if (s[p] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(p + 1, p + 5))) throw new Stop(p - 1, 'bad \\u escape');
          p += 5;
        } else if (p < s.length && '"\\/bfnrt'.includes(s[p]!)) p++;
        else throw new Stop(p - 1, `bad escape ${JSON.stringify('\\' + (s[p] ?? ''))}`);
      } else p++;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const value = (): void => {
    ws();
    const c = s[p];
    if (c === '{') {
      p++;
      ws();
      if (s[p] === '}') return void p++;
      for (;;) {
        ws();
        if (s[p] !== '"') fail('a double-quoted property name');
        string();
        ws();
        if (s[p] !== ':') fail("':' after the property name");
        p++;
        value();
        ws();
        if (s[p] === ',') {
          const comma = p++;
          ws();
          if (s[p] === '}') throw new Stop(comma, "trailing comma before '}'");
          continue;
        }
        if (s[p] === '}') return void p++;
        fail("',' or '}'");
      }
    }
    if (c === '[') {
      p++;
      ws();
      if (s[p] === ']') return void p++;
      for (;;) {
        value();
        ws();
        if (s[p] === ',') {
          const comma = p++;
          ws();
          if (s[p] === ']') throw new Stop(comma, "trailing comma before ']'");
          continue;
        }
        if (s[p] === ']') return void p++;
        fail("',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, p)) return void (p += lit.length);
    }
    NUMBER.lastIndex = p;
    const m = NUMBER.exec(s);
    if (m) return void (p += m[0].length);
    fail('a value');
  };
  try {
    value();
    ws();
    if (p < s.length) fail('the end of the file after the top-level value');
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: e.offset, what: e.what };
    return undefined; // e.g. nesting too deep for the stack: the caller falls back on the engine's message
  }
}

/**
 * Reads a file through `read`, turning any failure (ENOENT, a failed fetch)
 * into a DataError naming the path.
 */
export async function readOrFail(read: (path: string) => Promise<Uint8Array>, path: string, what = 'file'): Promise<Uint8Array> {
  try {
    return await read(path);
  } catch (e) {
    if (e instanceof DataError) throw e;
    const code = (e as { code?: string }).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new DataError(path, undefined, `cannot read ${what}: ${reason}`, { cause: e });
  }
}
