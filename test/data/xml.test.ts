import { describe, expect, it } from 'vitest';
import { parseXml } from '../../src/data/xml.js';

describe('parseXml', () => {
  it('parses elements, attributes, entities, comments, CDATA and declarations', () => {
    const root = parseXml(
      `\ufeff<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE annotation>
<!-- a comment -->
<annotation kind='voc' n="1">
  <name>dog &amp; cat &#65;&#x42;</name>
  <empty/>
  <raw><![CDATA[<not a tag>]]></raw>
</annotation>
<!-- trailing -->`,
      'a.xml',
    );
    expect(root.name).toBe('annotation');
    expect(root.attrs).toEqual({ kind: 'voc', n: '1' });
    expect(root.children.map((c) => c.name)).toEqual(['name', 'empty', 'raw']);
    expect(root.children[0]!.text).toBe('dog & cat AB');
    expect(root.children[0]!.line).toBe(5);
    expect(root.children[2]!.text).toBe('<not a tag>');
  });

  it.each([
    ['<a><b></a>', /a\.xml:1: malformed XML: <\/a> closes <b>/],
    ['<a>\n<b>\n', /a\.xml:3: .*<b> opened on line 2 is never closed/],
    ['<a x=1/>', /attribute 'x' value must be quoted/],
    ['<a x="1" x="2"/>', /duplicate attribute 'x'/],
    ['<a>&nope;</a>', /unknown entity '&nope;'/],
    ['<a>AT&T</a>', /unterminated entity/],
    ['<a/><b/>', /content after the root element/],
    ['text', /expected the root element/],
    ['<a><!-- open </a>', /unterminated '<!--'/],
  ])('rejects %j', (src, error) => {
    expect(() => parseXml(src, 'a.xml')).toThrow(error);
  });
});
