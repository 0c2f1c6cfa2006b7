// The README stays a page for users (at most 15,000 bytes, the two set-up commands first), and
// every relative link in it and in docs/ names a file or folder that exists in the repository, so
// a number's link always reaches the committed output behind it.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const pages = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** Relative link targets of a Markdown page: [text](target) and ![alt](target), anchors dropped. */
function relativeLinks(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
    const target = m[1]!.split('#')[0]!;
    if (target === '' || /^[a-z]+:/i.test(target)) continue;
    out.push(target);
  }
  return out;
}

describe('README and docs', () => {
  it('README.md is at most 15,000 bytes and starts with the two commands', () => {
    const readme = readFileSync('README.md');
    expect(readme.length).toBeLessThanOrEqual(15_000);
    const text = readme.toString('utf8');
    expect(text).toContain('npm ci && npm run main');
    expect(text).toContain('npm ci && npm test');
  });

  for (const page of pages) {
    it(`every relative link in ${page} exists`, () => {
      const links = relativeLinks(readFileSync(page, 'utf8'));
      const missing = links.filter((l) => !existsSync(normalize(join(dirname(page), decodeURIComponent(l)))));
      expect(missing).toEqual([]);
    });
  }
});
