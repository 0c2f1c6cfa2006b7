/**
 * A small strict XML parser, enough for PASCAL VOC annotations: elements,
 * attributes, text, comments, CDATA, processing instructions, and the
 * predefined and numeric entities. Any malformation throws a DataError naming
 * the file and line:column, which a lenient off-the-shelf parser would not
 * do; that is why this is not a dependency.
 *
 * DOCTYPE and ENTITY declarations are refused outright: annotations never
 * need them, and entity expansion is how XML bombs and external-entity reads
 * work, so nothing declared in a file is ever expanded.
 */
import { DataError } from './errors.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text content directly inside this element, entities decoded. */
  text: string;
  /** 1-based line and column of the element's '<'. */
  line: number;
  column: number;
}

export const DOCTYPE_REFUSED = 'DOCTYPE/entity declarations are not allowed (no entity expansion)';

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function parseXml(src: string, file = 'XML'): XmlElement {
  let pos = 0;
  // Line numbers are counted incrementally: positions asked for mostly grow.
  let linePos = 0;
  let line = 1;
  let lineStart = 0;
  const lineAt = (p: number): number => {
    if (p < linePos) (linePos = 0), (line = 1), (lineStart = 0);
    for (; linePos < p; linePos++) if (src.charCodeAt(linePos) === 10) line++, (lineStart = linePos + 1);
    return line;
  };
  const columnAt = (p: number): number => (lineAt(p), p - lineStart + 1);
  const where = (p: number): string => `${lineAt(p)}:${columnAt(p)}`;
  const fail = (msg: string, p = pos): never => {
    throw new DataError(file, where(p), `malformed XML: ${msg}`);
  };
  const refuseDeclarations = (): void => {
    if (/^<!(DOCTYPE|ENTITY)/i.test(src.slice(pos, pos + 9))) throw new DataError(file, where(pos), DOCTYPE_REFUSED);
  };
  const decode = (s: string, at: number): string =>
    s.replace(/&([^;&\s]*);?/g, (m, ent: string) => {
      if (!m.endsWith(';')) fail(`unterminated entity '${m}'`, at);
      if (ent in ENTITIES) return ENTITIES[ent]!;
      const code = /^#x[0-9a-fA-F]+$/.test(ent) ? parseInt(ent.slice(2), 16) : /^#[0-9]+$/.test(ent) ? +ent.slice(1) : NaN;
      if (!(code >= 0 && code <= 0x10ffff)) fail(`unknown entity '&${ent};'`, at);
      return String.fromCodePoint(code);
    });
  const skipSpace = (): void => {
    while (pos < src.length && /\s/.test(src[pos]!)) pos++;
  };
  const expect = (s: string): void => {
    if (!src.startsWith(s, pos)) fail(`expected '${s}'`);
    pos += s.length;
  };
  const name = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(src);
    if (!m) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };
  /** Skips comments and processing instructions; true when one was skipped. */
  const skipMisc = (): boolean => {
    refuseDeclarations();
    for (const [open, close] of [['<!--', '-->'], ['<?', '?>']] as const) {
      if (src.startsWith(open, pos)) {
        const end = src.indexOf(close, pos + open.length);
        if (end < 0) fail(`unterminated '${open}'`);
        pos = end + close.length;
        return true;
      }
    }
    return false;
  };

  const element = (): XmlElement => {
    const start = pos;
    expect('<');
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '', line: lineAt(start), column: columnAt(start) };
    for (;;) {
      skipSpace();
      if (src.startsWith('/>', pos)) {
        pos += 2;
        return el;
      }
      if (src[pos] === '>') {
        pos++;
        break;
      }
      const key = name();
      skipSpace();
      expect('=');
      skipSpace();
      const quote = src[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute '${key}' value must be quoted`);
      const end = src.indexOf(quote!, pos + 1);
      if (end < 0) fail(`unterminated value of attribute '${key}'`);
      if (key in el.attrs) fail(`duplicate attribute '${key}'`);
      el.attrs[key] = decode(src.slice(pos + 1, end), pos);
      pos = end + 1;
    }
    for (;;) {
      if (pos >= src.length) fail(`element <${el.name}> opened on line ${el.line} is never closed`);
      if (src.startsWith('</', pos)) {
        const at = pos;
        pos += 2;
        const close = name();
        if (close !== el.name) fail(`</${close}> closes <${el.name}> opened on line ${el.line}`, at);
        skipSpace();
        expect('>');
        return el;
      }
      if (src.startsWith('<![CDATA[', pos)) {
        const end = src.indexOf(']]>', pos);
        if (end < 0) fail('unterminated CDATA');
        el.text += src.slice(pos + 9, end);
        pos = end + 3;
      } else if (skipMisc()) {
        // nothing to keep
      } else if (src.startsWith('<!', pos)) {
        fail("unexpected '<!' (only comments and CDATA may start so)");
      } else if (src[pos] === '<') {
        el.children.push(element());
      } else {
        const end = src.indexOf('<', pos);
        const stop = end < 0 ? src.length : end;
        el.text += decode(src.slice(pos, stop), pos);
        pos = stop;
      }
    }
  };

  if (src.charCodeAt(0) === 0xfeff) pos = 1; // byte-order mark
  for (;;) {
    skipSpace();
    if (!skipMisc()) break;
  }
  if (src[pos] !== '<') fail('expected the root element');
  const root = element();
  for (;;) {
    skipSpace();
    if (!skipMisc()) break;
  }
  if (pos < src.length) fail('content after the root element');
  return root;
}
