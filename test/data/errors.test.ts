import { describe, expect, it } from 'vitest';
import { DataError, isDataError, jsonSyntaxError, lineColumn, parseJsonText, readOrFail } from '../../src/data/errors.js';
import { Rng } from '../../src/data/rng.js';

describe('DataError', () => {
  it('reads <file>: <where>: <what>, or <file>: <what> without a place', () => {
    const e = new DataError('a/b.xml', 'annotation/object[3]/bndbox/xmax', 'expected a number');
    expect(e.message).toBe('a/b.xml: annotation/object[3]/bndbox/xmax: expected a number');
    expect([e.name, e.file, e.where, e.what]).toEqual(['DataError', 'a/b.xml', 'annotation/object[3]/bndbox/xmax', 'expected a number']);
    expect(e).toBeInstanceOf(Error);
    expect(isDataError(e)).toBe(true);
    expect(isDataError(new Error('x'))).toBe(false);
    expect(new DataError('c.json', undefined, 'empty').message).toBe('c.json: empty');
  });

  it('turns a failed read into a DataError naming the path', async () => {
    const enoent = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
    await expect(readOrFail(async () => Promise.reject(enoent), 'x/y.jpg', 'image')).rejects.toThrow(/^x\/y\.jpg: cannot read image: no such file$/);
    await expect(readOrFail(async () => Promise.reject(new Error('HTTP 404')), 'u', 'image')).rejects.toThrow(/^u: cannot read image: HTTP 404$/);
  });
});

describe('JSON positions', () => {
  it('gives 1-based line:column', () => {
    expect(lineColumn('ab\ncd\n', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd\n', 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn('ab\ncd\n', 6)).toEqual({ line: 3, column: 1 });
  });

  it.each([
    ['{"a": 1 "b": 2}', '1:9', "expected ',' or '}', found \"\\\"\""],
    ['{"a": tru}', '1:7', 'expected a value, found "t"'],
    ['{"a": "x\ny"}', '1:9', 'control character in a string (a raw newline or tab must be escaped)'],
    ['{"a": "\\q"}', '1:8', 'bad escape "\\\\q"'],
    ['[1] 2', '1:5', 'expected the end of the file after the top-level value, found "2"'],
    ['{\'a\': 1}', '1:2', 'expected a double-quoted property name, found "\'"'],
    ['', '1:1', 'expected a value, found the end of the file'],
    ['[NaN]', '1:2', 'expected a value, found "N"'],
  ])('places the error in %j', (src, where, what) => {
    let err: DataError | undefined;
    try {
      parseJsonText(src, 'f.json');
    } catch (e) {
      err = e as DataError;
    }
    expect(err).toBeInstanceOf(DataError);
    expect([err!.where, err!.what]).toEqual([where, `malformed JSON: ${what}`]);
  });

  it('agrees with JSON.parse on which texts are valid (randomly broken COCO JSON)', () => {
    const valid = JSON.stringify({ images: [{ id: 1, file_name: 'a\\"b.png', w: -1.5e3 }], x: [true, false, null, 'é\u0001'], e: {} }, null, 1);
    const rng = new Rng(7);
    const pieces = ['', ',', '"', '}', ']', '{', '[', ':', '\\', '0', '-', '.', 'e', ' ', '\n', 'u', 'tru', '01'];
    for (let t = 0; t < 3000; t++) {
      let s = valid;
      for (let k = rng.int(1, 3); k > 0; k--) {
        const at = rng.int(0, s.length);
        const cut = rng.int(0, 2);
        s = s.slice(0, at) + pieces[rng.int(0, pieces.length - 1)] + s.slice(at + cut);
      }
      let ok = true;
      try {
        JSON.parse(s);
      } catch {
        ok = false;
      }
      const found = jsonSyntaxError(s);
      if ((found === undefined) !== ok) throw new Error(`disagree on ${JSON.stringify(s)}: JSON.parse ${ok}, scanner ${JSON.stringify(found)}`);
    }
  });
});
