// What `npm pack` would publish: the ESM bundles per entry point with their type declarations,
// the CLI, the shipped teacher, the README; no tests, fixtures, sources of the build or demo.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { requireDist, run } from './runtimes.js';

describe('npm pack', () => {
  it('ships dist (every export with its types), bin and the teacher, and nothing of the tests', async () => {
    requireDist();
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { maxBuffer: 1 << 24 });
    const [info] = JSON.parse(stdout) as { files: { path: string; size: number }[]; size: number; unpackedSize: number }[];
    const files = info!.files.map((f) => f.path);
    console.log(`npm pack: ${files.length} files, ${(info!.size / 1e6).toFixed(2)} MB packed, ${(info!.unpackedSize / 1e6).toFixed(2)} MB unpacked`);

    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, string | { types: string; import: string }>; bin: Record<string, string> };
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(files, `${entry} import`).toContain(target.import.replace(/^\.\//, ''));
      expect(files, `${entry} types`).toContain(target.types.replace(/^\.\//, ''));
    }
    for (const bin of Object.values(pkg.bin)) expect(files).toContain(bin.replace(/^\.\//, ''));
    expect(files).toContain('models/teacher.safetensors');
    expect(files).toContain('README.md');
    expect(files).toContain('package.json');

    const forbidden = files.filter((f) => /^(test|bench|assembly|scripts|demo|examples|src|shaders|results|runs|build|\.ci)\//.test(f) || /fixtures|\.test\.|\.map$/.test(f));
    expect(forbidden).toEqual([]);

    // The .wasm and the WGSL travel inside the JavaScript (no loose asset files to resolve).
    expect(files.filter((f) => /\.(wasm|wgsl)$/.test(f))).toEqual([]);
    const chunks = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).map((f) => readFileSync(f, 'utf8'));
    expect(chunks.some((c) => c.includes('AGFzbQ'))).toBe(true); // base64 of "\0asm"
    expect(chunks.some((c) => c.includes('@compute'))).toBe(true);
  }, 120_000);

  it('is tree-shakeable: the engine entry does not pull in the detector or the data', () => {
    requireDist();
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { sideEffects: boolean; type: string };
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
    const engine = readFileSync('dist/engine.js', 'utf8');
    const imported = [...engine.matchAll(/from\s*"(\.\/chunks\/[^"]+)"/g)].map((m) => readFileSync(`dist/${m[1]!.slice(2)}`, 'utf8')).join('\n');
    expect(imported).not.toMatch(/class FasterRCNN/);
    expect(imported).not.toMatch(/fashionSubset|FashionScenes/);
  });
});
