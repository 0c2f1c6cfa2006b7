// `.pth` state_dicts (src/interop/pth.ts) against files PyTorch 1.13 wrote
// (scripts/fixtures-pth.py -> test/fixtures/interop/): every tensor of a real torch.save
// state_dict decodes to the exact values torch holds (every dtype kdet reads, transposed,
// offset, strided, expanded and channels_last views, empty and 0-dim tensors), in pickle protocol
// 2 and 4 and re-zipped with DEFLATE; each broken or hostile file is refused with its own message
// and nothing runs; writePth writes what torch.load reads back exactly (kdet-written.pth, which
// the fixture script verified with torch.load, is rewritten byte for byte; with PyTorch on the
// machine a fresh file is checked by torch.load too).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafeTensor } from '../../src/nn/safetensors.js';
import { readPth, readStateDict, readZip, writePth, type PthTensor, type PthTensorInput } from '../../src/interop/index.js';
import { noteSkip } from '../helpers/skip.js';
import { FIXTURES, fixture } from './pickle-bytes.js';

interface Expected {
  dtype: string;
  shape: number[];
  values: number[];
}

const expected = JSON.parse(readFileSync(join(FIXTURES, 'state-dict.json'), 'utf8')) as { torch: string; tensors: Record<string, Expected> };
const sample = JSON.parse(readFileSync(join(FIXTURES, 'kdet-sample.json'), 'utf8')) as {
  tensors: { name: string; dtype: PthTensorInput['dtype']; shape: number[]; values: number[]; torch_dtype: string }[];
};

function expectTensor(name: string, t: PthTensor | undefined, e: Expected): void {
  expect(t, name).toBeDefined();
  expect(t!.dtype, name).toBe(e.dtype);
  expect(t!.shape, name).toEqual(e.shape);
  // Exact, -0 and +0 told apart: float32 values are exact doubles in the JSON.
  expect(Array.from(t!.data), name).toStrictEqual(e.values);
}

function expectStateDict(got: Map<string, PthTensor>, want: Record<string, Expected>): void {
  expect([...got.keys()]).toEqual(Object.keys(want));
  for (const [name, e] of Object.entries(want)) expectTensor(name, got.get(name), e);
}

describe('readPth: state_dicts written by torch.save', () => {
  it('decodes every tensor of a real state_dict exactly (protocol 2)', () => {
    const notes: string[] = [];
    const got = readPth(fixture('state-dict.pth'), 'state-dict.pth', { onNote: (n) => notes.push(n) });
    expectStateDict(got, expected.tensors);
    expect(got.get('body.bn1.num_batches_tracked')!.data[0]).toBe(3);
    expect(got.get('extra.int64')!.data[0]).toBe(2 ** 40 + 3);
    expect(got.get('extra.double')!.data).toBeInstanceOf(Float32Array);
    expect(notes).toEqual(["'extra.double' is float64 in state-dict.pth; read as float32 (rounded to nearest)"]);
  });

  it('reads the views torch.save keeps as views: transposed, offset, strided, expanded, channels_last', () => {
    const got = readPth(fixture('state-dict.pth'), 'state-dict.pth');
    // base = arange(24).reshape(4, 6) * 0.5, saved only through its views.
    const base = (r: number, c: number) => (r * 6 + c) * 0.5;
    expect(Array.from(got.get('extra.transposed')!.data)).toEqual(Array.from({ length: 24 }, (_, i) => base(i % 4, Math.floor(i / 4))));
    expect(Array.from(got.get('extra.slice')!.data)).toEqual([2.5, 3, 3.5, 4, 4.5, 5]);
    expect(Array.from(got.get('extra.strided')!.data)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11].map((_, i) => base(1 + Math.floor(i / 3), 2 * (i % 3))));
    expect(Array.from(got.get('extra.expanded')!.data)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(got.get('extra.empty')!.shape).toEqual([0, 3]);
    expect(got.get('extra.scalar')!.shape).toEqual([]);
  });

  it('reads the same file pickled with protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME)', () => {
    expectStateDict(readPth(fixture('state-dict-p4.pth'), 'state-dict-p4.pth'), expected.tensors);
  });

  it('reads the same records re-zipped by Python zipfile with DEFLATE and no alignment', () => {
    const bytes = fixture('deflated.pth');
    expect(readZip(bytes, 'deflated.pth').entries.every((e) => e.method === 8)).toBe(true);
    expectStateDict(readPth(bytes, 'deflated.pth'), expected.tensors);
  });

  it('reads nn.Parameter values (torch._utils._rebuild_parameter)', () => {
    const got = readPth(fixture('parameters.pth'), 'parameters.pth');
    const names = ['body.conv1.weight', 'body.bn1.weight', 'body.bn1.bias', 'body.conv2.weight', 'body.conv2.bias', 'body.bn2.weight', 'body.bn2.bias', 'head.weight', 'head.bias'];
    expect([...got.keys()]).toEqual(names);
    for (const n of names) expectTensor(n, got.get(n), expected.tensors[n]!);
  });

  it('refuses a checkpoint dict, naming the key to pass, and reads it with that key', () => {
    expect(() => readPth(fixture('checkpoint.pth'), 'checkpoint.pth')).toThrow(
      "kdet.pth: checkpoint.pth: holds a checkpoint dict (keys: 'model', 'optimizer', 'epoch'), not a state_dict: pass key 'model' (kdet import --key model), or save model.state_dict() itself",
    );
    const model = Object.fromEntries(Object.entries(expected.tensors).filter(([k]) => !k.startsWith('extra.')));
    expectStateDict(readPth(fixture('checkpoint.pth'), 'checkpoint.pth', { key: 'model' }), model);
    expect(() => readPth(fixture('checkpoint.pth'), 'checkpoint.pth', { key: 'optimizer' })).toThrow(/entry 'state' is a dict, not a tensor/);
    expect(() => readPth(fixture('checkpoint.pth'), 'checkpoint.pth', { key: 'epoch' })).toThrow(/'epoch' holds a int, not a state_dict/);
    expect(() => readPth(fixture('checkpoint.pth'), 'checkpoint.pth', { key: 'weights' })).toThrow(/has no key 'weights' \(its keys: 'model', 'optimizer', 'epoch'\)/);
  });

  it('readStateDict: a .pth or a safetensors file, as float32 safetensors tensors', () => {
    const pth = readStateDict(fixture('state-dict.pth'), 'state-dict.pth');
    expect(pth.format).toBe('pth');
    expect([...pth.tensors.values()].every((t) => t.dtype === 'F32' && t.data instanceof Float32Array)).toBe(true);
    expect(pth.tensors.get('body.bn2.num_batches_tracked')!.data[0]).toBe(3);
    expect(Array.from(pth.tensors.get('extra.int8')!.data)).toEqual([-128, 127, 3]);
    // 2^40 + 3 has no float32: rounded, and said so.
    expect(pth.notes).toContain("'extra.int64' (int64) holds integers beyond 2^24, rounded to float32");
    const st = new Map<string, SafeTensor>([
      ['a', { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }],
      ['b', { dtype: 'I32', shape: [1], data: new Int32Array([7]) }],
    ]);
    const safe = readStateDict(encodeSafetensors(st), 'w.safetensors');
    expect(safe.format).toBe('safetensors');
    expect(safe.tensors.get('b')).toEqual({ dtype: 'F32', shape: [1], data: new Float32Array([7]) });
    expect(() => readStateDict(encodeSafetensors(st), 'w.safetensors', { key: 'model' })).toThrow(/applies only to \.pth/);
  });
});

const PWNED = '/tmp/kdet-pth-pwned';

describe('readPth refuses broken and hostile files, running nothing', () => {
  const cases: [string, RegExp][] = [
    ['hostile-os-system.pth', /\.pth pickle: global 'os\.system' is not allowed \(a state_dict holds only tensors and containers\) \[GLOBAL at byte 2\]/],
    ['hostile-builtins-eval.pth', /\.pth pickle: global 'builtins\.eval' is not allowed/],
    ['hostile-posix-stack-global.pth', /\.pth pickle: global 'posix\.system' is not allowed .*\[STACK_GLOBAL at byte 17\]/],
    ['hostile-inst.pth', /\.pth pickle: opcode INST \(os\.system\) is not allowed \(it builds an arbitrary object/],
    ['namespace-checkpoint.pth', /\.pth pickle: global 'argparse\.Namespace' is not allowed/],
    ['storage-short.pth', /storage shorter than its tensor: size \[4,4\], stride \[4,1\], offset 0 reads element 15, but storage '0' holds 4 float32 values/],
    ['storage-record-short.pth', /tensor 'w': storage record 'archive\/data\/0' holds 8 bytes, but the pickle declares 16 float32 values \(64 bytes\): storage shorter than its tensor/],
    ['hostile-huge-binunicode.pth', /BINUNICODE needs 4294967280 bytes but only 4 remain/],
    ['hostile-deep-marks.pth', /nesting deeper than 100 MARKs/],
    ['hostile-deep-tuples.pth', /holds a tuple, not a state_dict/],
    ['complex.pth', /unknown storage dtype: 'torch\.ComplexFloatStorage' is not supported \(kdet reads float32, /],
    ['truncated.pth', /kdet\.zip: truncated\.pth: no end-of-central-directory record: the archive is truncated/],
    ['bad-central-directory.pth', /kdet\.zip: bad-central-directory\.pth: bad central directory signature at byte \d+ \(entry 0\)/],
    ['legacy.pth', /legacy torch\.save format \(torch < 1\.6 or _use_new_zipfile_serialization=False\) is not supported/],
    ['torchscript.pt', /a TorchScript archive \(torch\.jit\.save\), not a state_dict/],
    ['big-endian.pth', /written on a big-endian machine \(byteorder "big"\)/],
  ];
  const pwnedBefore = existsSync(PWNED);

  it.each(cases)('%s', (file, message) => {
    let err: unknown;
    try {
      readPth(fixture(file), file);
    } catch (e) {
      err = e;
    }
    expect(err, file).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(message);
    expect(msg).toContain(`: ${file}: `);
  });

  it('every fixture is covered: each hostile or broken file above, each real one read', () => {
    const listed = new Set(cases.map(([f]) => f));
    const real = ['state-dict.pth', 'state-dict-p4.pth', 'deflated.pth', 'parameters.pth', 'checkpoint.pth', 'kdet-written.pth'];
    const files = readdirSync(FIXTURES).filter((f) => !f.endsWith('.json'));
    expect(files.filter((f) => !listed.has(f) && !real.includes(f))).toEqual([]);
  });

  it('ran none of the payloads', () => {
    // The payloads would create this file; if it existed before the run it says nothing.
    if (!pwnedBefore) expect(existsSync(PWNED)).toBe(false);
  });
});

describe('writePth', () => {
  const input = new Map<string, PthTensorInput>(sample.tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: t.values }]));

  it('writes kdet-written.pth (verified by torch.load when the fixtures were made) byte for byte', () => {
    expect(Buffer.from(writePth(input)).equals(Buffer.from(fixture('kdet-written.pth')))).toBe(true);
  });

  it('reads back what it wrote: torch dtypes, num_batches_tracked as int64, values exact', () => {
    const got = readPth(fixture('kdet-written.pth'), 'kdet-written.pth');
    expect([...got.keys()]).toEqual(sample.tensors.map((t) => t.name));
    for (const t of sample.tensors) {
      const g = got.get(t.name)!;
      expect(g.dtype, t.name).toBe(t.torch_dtype);
      expect(g.shape, t.name).toEqual(t.shape);
      // float64 is read as float32: compare through the same rounding.
      expect(Array.from(g.data), t.name).toEqual(t.torch_dtype === 'float64' ? t.values.map(Math.fround) : t.values);
    }
  });

  it('lays records out as torch does: data.pkl first, data 64-byte aligned, version and byteorder records', () => {
    const zip = readZip(writePth(input, 'resnet18'), 'w.pth');
    expect(zip.entries[0]!.name).toBe('resnet18/data.pkl');
    expect(zip.entries.map((e) => e.name)).toEqual(['resnet18/data.pkl', 'resnet18/byteorder', ...sample.tensors.map((_, i) => `resnet18/data/${i}`), 'resnet18/version']);
    for (const e of zip.entries) expect(e.dataOffset % 64, e.name).toBe(0);
    expect(new TextDecoder().decode(zip.read('resnet18/version'))).toBe('3\n');
    expect(new TextDecoder().decode(zip.read('resnet18/byteorder'))).toBe('little');
    // A real torch.save archive has the same alignment.
    for (const e of readZip(fixture('state-dict.pth'), 'state-dict.pth').entries) expect(e.dataOffset % 64, e.name).toBe(0);
  });

  it('round-trips a real state_dict (views written contiguous)', () => {
    const real = readPth(fixture('state-dict.pth'), 'state-dict.pth');
    const again = readPth(writePth(real), 'rewritten.pth');
    for (const [name, t] of real) {
      const g = again.get(name)!;
      // float64 came in as float32 values: rewritten as float64 they read back the same.
      expect(g.dtype, name).toBe(t.dtype);
      expect(g.shape, name).toEqual(t.shape);
      expect(Array.from(g.data), name).toEqual(Array.from(t.data));
    }
  });

  it('refuses what torch could not hold', () => {
    expect(() => writePth(new Map([['x', { dtype: 'int8', shape: [1], data: [200] }]]))).toThrow("kdet.pth: 'x' is int8 but holds 200");
    expect(() => writePth(new Map([['x', { dtype: 'int64', shape: [1], data: [0.5] }]]))).toThrow("'x' is int64 but holds 0.5");
    expect(() => writePth(new Map([['x', { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] }]]))).toThrow("'x' has shape [2,2] but 3 values");
    expect(() => writePth(new Map([['x', { dtype: 'F32', shape: [-1], data: [] }]]))).toThrow('invalid shape');
    expect(() => writePth(new Map(), '../evil')).toThrow(/archive name/);
  });

  it('torch.load reads a fresh writePth file exactly (needs PyTorch at /usr/bin/python3)', () => {
    const python = '/usr/bin/python3';
    if (!existsSync(python) || spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
      noteSkip('torch.load check of a fresh writePth file', `no PyTorch at ${python} (apt-get install python3-torch); the committed kdet-written.pth, verified by torch.load when made, is checked above`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'kdet-pth-'));
    try {
      const file = join(dir, 'fresh.pth');
      writeFileSync(file, writePth(input));
      const run = spawnSync(python, ['scripts/fixtures-pth.py', '--verify', file], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^verified /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
