import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { DOCTYPE_REFUSED, parseXml } from '../../src/data/xml.js';

describe('parseXml', () => {
  it('parses elements, attributes, entities, comments, CDATA and declarations', () => {
    const root = parseXml(
      `\ufeff<?xml version="1.0" encoding="utf-8"?>
<!-- a comment -->
<!-- another -->
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
    expect(root.children[0]!.column).toBe(3);
    expect(root.children[2]!.text).toBe('<not a tag>');
  });

  it.each([
    ['<a><b></a>', /^a\.xml: 1:7: malformed XML: <\/a> closes <b>/],
    ['<a>\n<b>\n', /^a\.xml: 3:1: .*<b> opened on line 2 is never closed/],
    ['<a>\n  <b x=1/></a>', /^a\.xml: 2:8: malformed XML: attribute 'x' value must be quoted/],
    ['<a><!FOO></a>', /^a\.xml: 1:4: malformed XML: unexpected '<!'/],
    ['<a x=1/>', /attribute 'x' value must be quoted/],
    ['<a x="1" x="2"/>', /duplicate attribute 'x'/],
    ['<a>&nope;</a>', /unknown entity '&nope;'/],
    ['<a>AT&T</a>', /unterminated entity/],
    ['<a/><b/>', /content after the root element/],
    ['text', /expected the root element/],
    ['<a><!-- open </a>', /unterminated '<!--'/],
  ])('rejects %j', (src, error) => {
    expect(() => parseXml(src, 'a.xml')).toThrow(error);
    expect(() => parseXml(src, 'a.xml')).toThrow(DataError);
  });

  it.each([
    ['a plain DOCTYPE', '<!DOCTYPE annotation>\n<annotation/>', '1:1'],
    ['an entity (billion laughs)', '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n <!ENTITY lol2 "&lol;&lol;&lol;">\n]>\n<lolz>&lol2;</lolz>', '2:1'],
    ['an external entity', '<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n<foo>&xxe;</foo>', '1:1'],
    ['a DOCTYPE after a comment, lower case', '<!-- x -->\n  <!doctype a>\n<a/>', '2:3'],
    ['an ENTITY inside an element', '<a>\n<!ENTITY x "y"></a>', '2:1'],
  ])('refuses %s, naming file and place, never expanding', (_, src, where) => {
    let err: unknown;
    try {
      parseXml(src, 'dir/evil.xml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DataError);
    const e = err as DataError;
    expect(e.message).toBe(`dir/evil.xml: ${where}: ${DOCTYPE_REFUSED}`);
    expect([e.file, e.where]).toEqual(['dir/evil.xml', where]);
    expect(DOCTYPE_REFUSED).toBe('DOCTYPE/entity declarations are not allowed (no entity expansion)');
  });
});
