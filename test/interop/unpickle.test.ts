// The restricted unpickler (src/interop/unpickle.ts, torch-globals.ts) on hand-assembled pickles:
// the data opcodes decode as CPython's unpickler would; every other opcode and every global off
// the allow-list is refused by name (including names that would mean something to a JS object,
// like __proto__ or constructor); malformed pickles (underflow, memo miss, lengths past the end,
// no STOP) are clear errors; torch's tensor rebuild is checked argument by argument; and random
// mutations of a real data.pkl never escape as anything but a kdet error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPth, readZip, unpickle } from '../../src/interop/index.js';
import { pickleStateDict } from '../../src/interop/pickle-write.js';
import { PyDict, PyFloat, PyList, PyTensor, PyTuple } from '../../src/interop/py-values.js';
import { FIXTURES, ORDERED_DICT, archive, bytes, fixture, floats, int, pid, str, stateDictPickle, tensor, u32 } from './pickle-bytes.js';

const run = (pkl: Uint8Array) => unpickle(pkl, 'test.pkl').value;
const refused = (pkl: Uint8Array) => {
  try {
    run(pkl);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('not refused');
};

describe('unpickle: the data a state_dict pickle holds', () => {
  it('scalars: ints of every width, floats, bools, None, strings, bytes', () => {
    const v = run(
      bytes('\x80\x02(', 'K\x07', 'M\x34\x12', int(-5), '\x8a\x00', '\x8a\x01\xff', '\x8a\x06\x00\x00\x00\x00\x00\x01', '\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80', 'G', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], '\x88\x89N', str('ünï'), '\x8c\x02ab', 'C\x02\x01\x02', 't.'),
    ) as PyTuple;
    expect(v).toBeInstanceOf(PyTuple);
    expect(v.items).toEqual([7, 0x1234, -5, 0, -1, 2 ** 40, -(2n ** 63n), new PyFloat(1.5), true, false, null, 'ünï', 'ab', new Uint8Array([1, 2])]);
  });

  it('containers, memo (BINPUT/BINGET, MEMOIZE), DUP, POP, POP_MARK and FRAME', () => {
    const v = run(bytes('\x80\x04\x95', [9, 0, 0, 0, 0, 0, 0, 0], '}\x94', '(', str('a'), ']\x94K\x01a', '(K\x02K\x03e', str('b'), 'h\x01', 'u', 'K\x09', '0', '(K\x01', '1', '2', '\x86', '.')) as PyTuple;
    const [d, d2] = v.items as [PyDict, PyDict];
    expect(d).toBe(d2); // DUP
    expect(d.ordered).toBe(false);
    const list = d.map.get('a') as PyList;
    expect(list.items).toEqual([1, 2, 3]);
    expect(d.map.get('b')).toBe(list); // BINGET of the MEMOIZE'd list
  });

  it('an OrderedDict with its _metadata (BUILD) and a tensor description', () => {
    const pkl = bytes('\x80\x02', ORDERED_DICT, str('w'), tensor(pid('FloatStorage', '0', 6), 1, [2, 2], [1, 2]), 's', '}', str('_metadata'), ORDERED_DICT, 's', 'b.');
    const { value, storages } = unpickle(pkl, 'test.pkl');
    const d = value as PyDict;
    expect(d.ordered).toBe(true);
    expect(d.attrs!.map.has('_metadata')).toBe(true);
    const t = d.map.get('w') as PyTensor;
    expect(t).toBeInstanceOf(PyTensor);
    expect([t.offset, t.shape, t.stride, t.numel, t.requiresGrad]).toEqual([1, [2, 2], [1, 2], 4, false]);
    expect(storages.get('0')).toBe(t.storage);
  });
});

describe('unpickle refuses opcodes a state_dict does not use, by name', () => {
  const cases: [string, Uint8Array][] = [
    ['INST', bytes('\x80\x02(ios\nsystem\n.')],
    ['OBJ', bytes('\x80\x02(', ORDERED_DICT, 'o.')],
    ['NEWOBJ', bytes('\x80\x02ccollections\nOrderedDict\n)\x81.')],
    ['NEWOBJ_EX', bytes('\x80\x04ccollections\nOrderedDict\n)}\x92.')],
    ['EXT1', bytes('\x80\x02\x82\x01.')],
    ['EXT2', bytes('\x80\x02\x83\x01\x00.')],
    ['EXT4', bytes('\x80\x02\x84\x01\x00\x00\x00.')],
    ['PERSID', bytes('\x80\x02P0\n.')],
    ['STRING', bytes("S'x'\n.")],
    ['BINSTRING', bytes('T\x01\x00\x00\x00x.')],
    ['SHORT_BINSTRING', bytes('U\x01x.')],
    ['UNICODE', bytes('Vx\n.')],
    ['INT', bytes('I1\n.')],
    ['LONG', bytes('L1L\n.')],
    ['FLOAT', bytes('F1.0\n.')],
    ['LONG4', bytes('\x80\x02\x8b\x01\x00\x00\x00\x01.')],
    ['DICT', bytes('(d.')],
    ['LIST', bytes('(l.')],
    ['PUT', bytes('Np0\n.')],
    ['GET', bytes('g0\n.')],
    ['EMPTY_SET', bytes('\x80\x04\x8f.')],
    ['ADDITEMS', bytes('\x80\x04(\x90.')],
    ['FROZENSET', bytes('\x80\x04(\x91.')],
    ['BYTEARRAY8', bytes('\x80\x05\x96', [0, 0, 0, 0, 0, 0, 0, 0], '.')],
    ['NEXT_BUFFER', bytes('\x80\x05\x97.')],
    ['READONLY_BUFFER', bytes('\x80\x05N\x98.')],
  ];
  it.each(cases)('%s', (name, pkl) => {
    expect(refused(pkl)).toMatch(new RegExp(`^kdet\\.pth: test\\.pkl: \\.pth pickle: opcode ${name}( \\([^)]*\\))? is not allowed \\(.*\\) \\[${name} at byte \\d+\\]$`));
  });

  it('an unknown opcode byte', () => {
    expect(refused(bytes('\x80\x02\xff.'))).toMatch(/unknown opcode 0xff \[opcode at byte 2\]/);
    expect(refused(bytes('\x80\x06N.'))).toMatch(/pickle protocol 6 is not accepted/);
  });
});

describe('unpickle allows only the globals a state_dict names', () => {
  const refusedGlobals: [string, string][] = [
    ['os', 'system'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['builtins', 'getattr'],
    ['builtins', '__import__'],
    ['__builtin__', 'eval'],
    ['torch', 'load'],
    ['torch._utils', '_rebuild_tensor'],
    ['torch._tensor', '_rebuild_from_type_v2'],
    ['torch._utils', '_rebuild_parameter_with_state'],
    ['torch.nn.parameter', 'Parameter'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['collections', '__proto__'],
    ['collections', 'constructor'],
    ['collections', 'OrderedDict.fromkeys'],
    ['torch._utils', 'constructor'],
    ['__proto__', 'toString'],
    ['collections.OrderedDict', ''],
  ];
  it.each(refusedGlobals)('GLOBAL %s.%s is refused by name', (module, name) => {
    expect(refused(bytes('\x80\x02c', `${module}\n${name}\n`, ')R.'))).toContain(`global '${module}.${name}' is not allowed (a state_dict holds only tensors and containers)`);
    // The same through STACK_GLOBAL (protocol 4).
    expect(refused(bytes('\x80\x04', str(module), str(name), '\x93)R.'))).toContain(`global '${module}.${name}' is not allowed`);
  });

  it('a storage class off the list is an unknown dtype; storage classes are not callable', () => {
    expect(refused(bytes('\x80\x02ctorch\nComplexDoubleStorage\n.'))).toMatch(/unknown storage dtype: 'torch\.ComplexDoubleStorage' is not supported/);
    expect(refused(bytes('\x80\x02ctorch\nFloatStorage\n)R.'))).toMatch(/'torch\.FloatStorage' may appear only in a storage's persistent id, not be called/);
  });

  it('names from the file are escaped in messages', () => {
    expect(refused(bytes('\x80\x04', str('os\x1b[31m'), str('x'.repeat(200)), '\x93.'))).toMatch(/global 'os\\x1b\[31m\.x{60,}\.\.\.' is not allowed/);
  });

  it('REDUCE, BUILD, APPEND and SETITEM only on what torch uses them for', () => {
    expect(refused(bytes('\x80\x02))R.'))).toMatch(/REDUCE on a tuple is not allowed/);
    expect(refused(bytes('\x80\x02ccollections\nOrderedDict\nN\x85R.'))).toMatch(/collections\.OrderedDict called with 1 arguments/);
    expect(refused(bytes('\x80\x02ccollections\nOrderedDict\nNR.'))).toMatch(/REDUCE of 'collections\.OrderedDict' with a None of arguments/);
    expect(refused(bytes('\x80\x02]}b.'))).toMatch(/BUILD on a list is not allowed/);
    expect(refused(bytes('\x80\x02}}b.'))).toMatch(/BUILD on a dict is not allowed/);
    expect(refused(bytes('\x80\x02', ORDERED_DICT, ')b.'))).toMatch(/BUILD with a tuple state is not allowed/);
    const attrs17 = Array.from({ length: 17 }, (_, i) => bytes(str(`a${i}`), 'N'));
    expect(refused(bytes('\x80\x02', ORDERED_DICT, '}(', ...attrs17, 'ub.'))).toMatch(/BUILD with a dict of 17 items as state is not allowed/);
    expect(refused(bytes('\x80\x02}Na.'))).toMatch(/APPEND on a dict is not allowed/);
    expect(refused(bytes('\x80\x02]NNs.'))).toMatch(/SETITEM on a list is not allowed/);
    expect(refused(bytes('\x80\x02})Ns.'))).toMatch(/dict key of type tuple is not allowed/);
    expect(refused(bytes('\x80\x02}(Nu.'))).toMatch(/SETITEMS with an odd number of values/);
    expect(refused(bytes('\x80\x04NN\x93.'))).toMatch(/STACK_GLOBAL of a None and a None, not two strings/);
  });
});

describe('unpickle: malformed pickles are clear errors', () => {
  it.each([
    ['stack underflow', bytes('\x80\x02R.'), /stack underflow \[REDUCE at byte 2\]/],
    ['underflow below a MARK', bytes('\x80\x02N(\x85.'), /stack underflow \[TUPLE1 at byte 4\]/],
    ['memo miss', bytes('\x80\x02h\x05.'), /memo miss: index 5 was never stored/],
    ['memo miss (LONG_BINGET)', bytes('\x80\x02j', u32(0xffffffff), '.'), /memo miss: index 4294967295/],
    ['no STOP', bytes('\x80\x02N'), /the pickle ends without STOP \(truncated\)/],
    ['empty', bytes(''), /the pickle ends without STOP/],
    ['STOP with two values', bytes('\x80\x02NN.'), /STOP with 2 values on the stack/],
    ['STOP inside a MARK', bytes('\x80\x02(N.'), /STOP with 1 values on the stack and 1 MARKs open/],
    ['TUPLE without MARK', bytes('\x80\x02t.'), /no MARK to pop to/],
    ['string past the end', bytes('\x80\x02X\x10\x00\x00\x00abc.'), /BINUNICODE needs 16 bytes but only 4 remain/],
    ['BINUNICODE8 of 2^64-1', bytes('\x80\x04\x8d', [255, 255, 255, 255, 255, 255, 255, 255], '.'), /BINUNICODE8 needs 18446744073709551615 bytes/],
    ['BINBYTES8 of 2^63', bytes('\x80\x04\x8e', [0, 0, 0, 0, 0, 0, 0, 0x80], '.'), /BINBYTES8 needs 9223372036854775808 bytes/],
    ['FRAME past the end', bytes('\x80\x04\x95', [0, 1, 0, 0, 0, 0, 0, 0], 'N.'), /FRAME needs 256 bytes but only 2 remain/],
    ['cut inside an argument', bytes('\x80\x02J\x01\x02'), /BININT needs 4 bytes but only 2 remain/],
    ['GLOBAL without newline', bytes('\x80\x02cos\nsyst'), /line runs past the end \(truncated\)/],
    ['a GLOBAL line of 2 KB', bytes('\x80\x02c', 'a'.repeat(2048), '\n\n.'), /line longer than 1024 bytes/],
    ['invalid UTF-8', bytes('\x80\x02X\x02\x00\x00\x00\xc3\x28.'), /string is not valid UTF-8/],
    ['a LONG1 of 9 bytes', bytes('\x80\x02\x8a\x09', [1, 2, 3, 4, 5, 6, 7, 8, 9], '.'), /LONG1 of 9 bytes is too large/],
    ['101 nested MARKs', bytes('\x80\x02', '('.repeat(101), '.'), /nesting deeper than 100 MARKs \(.*\) \[MARK at byte 102\]/],
  ])('%s', (_, pkl, message) => {
    expect(refused(pkl)).toMatch(message);
  });

  it('deep nesting without MARKs and self-containing lists finish at once (no recursion)', () => {
    const deep = run(bytes('\x80\x02N', '\x85'.repeat(200_000), '.'));
    expect(deep).toBeInstanceOf(PyTuple);
    const cycle = run(bytes('\x80\x02]2a.')) as PyList;
    expect(cycle.items[0]).toBe(cycle);
    expect(() => readPth(archive(bytes('\x80\x02]2a.')), 'cycle.pth')).toThrow('kdet.pth: cycle.pth: holds a list, not a state_dict (a dict of tensors)');
  });
});

describe("torch's storages and tensor rebuild, checked", () => {
  const one = (t: Uint8Array, records: [string, Uint8Array][] = [['0', floats(1, 2, 3, 4)]]) => () => readPth(archive(stateDictPickle([['w', t]]), records), 'w.pth');

  it('persistent ids must be well formed and consistent', () => {
    expect(one(bytes(str('x'), 'Q', int(0), '))\x89', ORDERED_DICT, '\x86\x86\x86R'))).toThrow(/persistent id is a str, not torch's/);
    expect(one(bytes('(', str('module'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), int(4), 'tQ'))).toThrow(/persistent id of kind 'module' \(kdet reads only 'storage'\)/);
    expect(one(bytes('(', str('storage'), 'N', str('0'), str('cpu'), int(4), 'tQ'))).toThrow(/persistent id names None as its storage type/);
    expect(one(bytes('(', str('storage'), 'ctorch\nFloatStorage\n', str('../0'), str('cpu'), int(4), 'tQ'))).toThrow(/invalid storage key/);
    expect(one(bytes('(', str('storage'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), int(-4), 'tQ'))).toThrow(/size -4 is not a valid element count/);
    expect(one(bytes('(', str('storage'), 'ctorch\nFloatStorage\n', str('0'), str('cpu'), '\x8a\x08', [0, 0, 0, 0, 0, 0, 0, 0x40], 'tQ'))).toThrow(/size 4611686018427387904 is not a valid element count/);
    const twice = stateDictPickle([
      ['a', tensor(pid('FloatStorage', '0', 4), 0, [4], [1])],
      ['b', tensor(pid('IntStorage', '0', 4), 0, [4], [1])],
    ]);
    expect(() => readPth(archive(twice, [['0', floats(1, 2, 3, 4)]]), 'w.pth')).toThrow(/storage '0' is named as 4 float32 and as 4 int32/);
  });

  it('_rebuild_tensor_v2 arguments are checked one by one', () => {
    const p = () => pid('FloatStorage', '0', 4);
    const rebuild = (...args: (string | readonly number[] | Uint8Array)[]) => bytes('ctorch._utils\n_rebuild_tensor_v2\n(', ...args, 'tR');
    const hooks = bytes(ORDERED_DICT);
    expect(one(rebuild(p(), int(0), '(K\x02t', '(K\x01t', '\x89'))).toThrow(/takes 6 or 7 arguments, got 5/);
    expect(one(rebuild(str('x'), int(0), '(K\x02t', '(K\x01t', '\x89', hooks))).toThrow(/its storage is a str, not a persistent storage reference/);
    expect(one(rebuild(p(), 'G', [0x3f, 0xf0, 0, 0, 0, 0, 0, 0], '(K\x02t', '(K\x01t', '\x89', hooks))).toThrow(/storage offset is a float/);
    expect(one(rebuild(p(), int(0), '(G', [0x40, 0, 0, 0, 0, 0, 0, 0], 't', '(K\x01t', '\x89', hooks))).toThrow(/size holds a float, not a size/);
    expect(one(rebuild(p(), int(0), '(K\x02K\x02t', '(K\x01t', '\x89', hooks))).toThrow(/size \[2,2\] and stride \[1\] differ in length/);
    expect(one(rebuild(p(), int(0), '(K\x02t', '(K\x01t', 'K\x01', hooks))).toThrow(/requires_grad is a int/);
    expect(one(rebuild(p(), int(0), '(K\x02t', '(K\x01t', '\x89', ORDERED_DICT, 'NNs'))).toThrow(/backward hooks must be an empty OrderedDict \(got 1 hooks\)/);
    expect(one(rebuild(p(), int(0), '(K\x02t', '(K\x01t', '\x89', hooks, '}NNs'))).toThrow(/tensor metadata other than an empty dict/);
    expect(one(rebuild(p(), int(0), bytes('(', 'K\x01'.repeat(65), 't'), bytes('(', 'K\x01'.repeat(65), 't'), '\x89', hooks))).toThrow(/size has 65 dimensions \(at most 64\)/);
    // A 7th, empty metadata dict (torch 2.x) is fine.
    expect(one(rebuild(p(), int(1), '(K\x03t', '(K\x01t', '\x89', hooks, '}'))().get('w')!.data).toEqual(new Float32Array([2, 3, 4]));
  });

  it('every element a view reads must lie in its storage; broadcasts may not outgrow the file', () => {
    expect(one(tensor(pid('FloatStorage', '0', 4), 3, [2], [1]))).toThrow(/storage shorter than its tensor: size \[2\], stride \[1\], offset 3 reads element 4, but storage '0' holds 4 float32 values/);
    expect(one(tensor(pid('FloatStorage', '0', 4), 0, [2, 2], [3, 1]))).toThrow(/reads element 4/);
    expect(one(tensor(pid('FloatStorage', '0', 4), 0, [0, 9], [9, 1]))().get('w')!.shape).toEqual([0, 9]); // empty: reads nothing
    // Stride 0 over one element: 2^30 values from 4 bytes.
    expect(one(tensor(pid('FloatStorage', '0', 1), 0, [1 << 30], [0]), [['0', floats(1)]])).toThrow(/its tensors declare 1073741824 values, more than a \d+-byte file can hold/);
    expect(one(tensor(pid('FloatStorage', '0', 4), 0, [4], [1]), [])).toThrow(/tensor 'w': its storage record 'archive\/data\/0' is missing/);
    expect(one(tensor(pid('FloatStorage', '0', 4), 0, [4], [1]), [['0', floats(1, 2, 3, 4, 5)]])).toThrow(/holds 20 bytes, but the pickle declares 4 float32 values \(16 bytes\)$/);
  });

  it('the writer encodes large ints as the reader decodes them (BININT2, BININT, LONG1)', () => {
    const pkl = pickleStateDict([{ name: 'big', dtype: 'float32', shape: [300, 70_000, 2 ** 28], storageKey: '0' }]);
    const t = (run(pkl) as PyDict).map.get('big') as PyTensor;
    expect(t.shape).toEqual([300, 70_000, 2 ** 28]);
    expect(t.stride).toEqual([70_000 * 2 ** 28, 2 ** 28, 1]);
    expect(t.storage.numel).toBe(300 * 70_000 * 2 ** 28);
  });
});

describe('robustness: mutated files fail only with kdet errors', () => {
  // A deterministic generator: the same mutations on every run.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const zip = readZip(fixture('state-dict.pth'), 'state-dict.pth');
  const pkl = zip.read('state-dict/data.pkl');
  const records = zip.entries.filter((e) => e.name.startsWith('state-dict/data/')).map((e): [string, Uint8Array] => [e.name.slice('state-dict/data/'.length), zip.read(e.name)]);

  const expectKdetErrorOrResult = (f: () => unknown, what: string) => {
    try {
      f();
    } catch (e) {
      // Never a TypeError / RangeError from a missed check, always a message naming the file.
      expect((e as Error).message, `${what}: ${(e as Error).stack}`).toMatch(/^kdet\.(pth|zip): /);
    }
  };

  it('600 pickles with random bytes changed, inserted or cut', () => {
    for (let i = 0; i < 600; i++) {
      const b = Array.from(pkl);
      const k = 1 + rand(4);
      for (let j = 0; j < k; j++) {
        const at = rand(b.length);
        const kind = rand(3);
        if (kind === 0) b[at] = rand(256);
        else if (kind === 1) b.splice(at, 0, rand(256));
        else b.splice(at, 1 + rand(8));
      }
      expectKdetErrorOrResult(() => readPth(archive(new Uint8Array(b), records), 'mutated.pth'), `mutation ${i}`);
    }
  });

  it('the archive cut at every 37th byte, and with random bytes changed', () => {
    const file = fixture('state-dict.pth');
    for (let cut = 0; cut < file.length; cut += 37) expectKdetErrorOrResult(() => readPth(file.subarray(0, cut), 'cut.pth'), `cut at ${cut}`);
    for (let i = 0; i < 300; i++) {
      const b = file.slice();
      b[rand(b.length)] = rand(256);
      expectKdetErrorOrResult(() => readPth(b, 'flipped.pth'), `flip ${i}`);
    }
  });
});

describe('source hygiene: nothing in src/interop can run code', () => {
  it('no eval, Function, dynamic import, require or child processes', () => {
    const dir = join(FIXTURES, '..', '..', '..', 'src', 'interop');
    for (const f of readdirSync(dir)) {
      const src = readFileSync(join(dir, f), 'utf8');
      expect(src, f).not.toMatch(/\beval\s*\(|\bnew\s+Function\b|\bFunction\s*\(|\bimport\s*\(|\brequire\s*\(|child_process|Reflect\.|globalThis|\[\s*(name|module|qualname)\s*\]/);
    }
  });
});
