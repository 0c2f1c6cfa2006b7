"""Fixtures for kdet's `.pth` reader and writer (src/interop/), from PyTorch 1.13.

Run: /usr/bin/python3 scripts/fixtures-pth.py   (Debian's python3-torch; not a venv's python3)
     /usr/bin/python3 scripts/fixtures-pth.py --verify FILE   (only check a kdet-written FILE)
  -> test/fixtures/interop/*.pth, *.pt, state-dict.json, kdet-sample.json
and then, when node is on PATH, `node scripts/run.mjs scripts/fixtures-pth-kdet.ts` (kdet's
writePth writes kdet-sample.json's tensors to kdet-written.pth), after which this script loads
kdet-written.pth with torch.load (plain and weights_only=True) and checks every name, dtype,
shape and value. The test re-reads that committed, verified file; on a machine with torch it also
checks a fresh writePth output the same way.

Real files, written by torch.save:
- state-dict.pth: a small model's state_dict (two conv/bn blocks, num_batches_tracked = 3) plus
  one tensor of every dtype kdet reads and the layouts torch.save keeps as they are: a transposed
  view, a slice sharing its storage at an offset, a strided slice, a stride-0 expand, channels_last,
  an empty tensor and a 0-dim one. state-dict.json holds the expected values (row-major; float64
  as the float32 kdet rounds it to; int64 exact).
- state-dict-p4.pth: the same with pickle_protocol=4 (STACK_GLOBAL, MEMOIZE, FRAME, short strings).
- parameters.pth: dict(model.named_parameters()) (torch._utils._rebuild_parameter).
- checkpoint.pth: {'model': state_dict, 'optimizer': SGD state, 'epoch': 3}: refused without a
  key, read with key 'model'.
- deflated.pth: state-dict.pth re-zipped by Python's zipfile with DEFLATE, no alignment.
- namespace-checkpoint.pth: torchvision's reference-scripts checkpoint shape, with an
  argparse.Namespace: refused by name.
- legacy.pth (_use_new_zipfile_serialization=False), torchscript.pt (torch.jit.save),
  complex.pth (a complex64 tensor: unknown storage dtype), big-endian.pth (byteorder 'big').
Broken and hostile files (hand-assembled pickles in torch's zip layout; NEVER load these with
torch.load: the payloads would run, creating /tmp/kdet-pth-pwned):
- hostile-os-system.pth (GLOBAL os.system + REDUCE), hostile-builtins-eval.pth (GLOBAL
  builtins.eval + REDUCE), hostile-posix-stack-global.pth (protocol 4, STACK_GLOBAL posix.system),
  hostile-inst.pth (INST os system), storage-short.pth (_rebuild_tensor_v2 of a 4x4 view over a
  4-element storage), storage-record-short.pth (a storage declared 16 floats with a 2-float
  record), hostile-huge-binunicode.pth (BINUNICODE declaring 4 GB), hostile-deep-marks.pth (5000
  nested MARKs), hostile-deep-tuples.pth (20000 nested TUPLE1s), truncated.pth (state-dict.pth cut
  short), bad-central-directory.pth (a corrupted central directory signature).
"""
import argparse
import collections
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'interop')
PAYLOAD = 'touch /tmp/kdet-pth-pwned'

KDET_DTYPE = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16', torch.bfloat16: 'bfloat16',
    torch.int64: 'int64', torch.int32: 'int32', torch.int16: 'int16', torch.int8: 'int8', torch.uint8: 'uint8',
    torch.bool: 'bool',
}
TORCH_DTYPE = {v: k for k, v in KDET_DTYPE.items()}


def path(name):
    return os.path.join(OUT, name)


def put(z, name, data):
    """A record with a fixed timestamp, so the fixtures come out the same on every run."""
    z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=z.compression)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(collections.OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, bias=False), bn1=nn.BatchNorm2d(4), relu=nn.ReLU(),
            conv2=nn.Conv2d(4, 4, 3, padding=1), bn2=nn.BatchNorm2d(4)))
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.body(x))


def expected_values(t):
    """Row-major values as kdet holds them: floats through float32, integers exact."""
    t = t.detach().contiguous()
    if t.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        return [float(v) for v in t.to(torch.float32).reshape(-1).tolist()]
    return [int(v) for v in t.reshape(-1).tolist()]


def describe(sd):
    return {k: {'dtype': KDET_DTYPE[v.dtype], 'shape': list(v.shape), 'values': expected_values(v)} for k, v in sd.items()}


def real_files():
    torch.manual_seed(0)
    net = Net()
    net.train()
    for _ in range(3):
        net(torch.randn(2, 3, 8, 8))
    net.eval()
    sd = net.state_dict()
    small = collections.OrderedDict((k, v.clone()) for k, v in sd.items())  # before opt.step() changes the weights
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5
    sd['extra.half'] = torch.tensor([0.0, 1.0, -2.5, 65504.0, 5.960464477539063e-08, 0.1], dtype=torch.float16)
    sd['extra.bfloat16'] = torch.tensor([1.0, -3.140625, 1e30, 0.1], dtype=torch.bfloat16)
    sd['extra.double'] = torch.tensor([1 / 3, -2.0, 1e-300, 3.0e38], dtype=torch.float64)
    sd['extra.int64'] = torch.tensor([2 ** 40 + 3, -5, 0], dtype=torch.int64)
    sd['extra.int32'] = torch.tensor([-2 ** 31, 2 ** 31 - 1, 7], dtype=torch.int32)
    sd['extra.int16'] = torch.tensor([-32768, 32767, -1], dtype=torch.int16)
    sd['extra.int8'] = torch.tensor([-128, 127, 3], dtype=torch.int8)
    sd['extra.uint8'] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    sd['extra.bool'] = torch.tensor([True, False, True])
    sd['extra.transposed'] = base.t()  # stride (1, 6): saved as a view, not copied
    sd['extra.slice'] = base.view(-1)[5:11]  # the same storage, offset 5
    sd['extra.strided'] = base[1:, ::2]  # offset 6, stride (6, 2)
    sd['extra.expanded'] = torch.tensor([1.0, 2.0, 3.0]).unsqueeze(1).expand(3, 4)  # stride (1, 0)
    sd['extra.channels_last'] = torch.randn(2, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    sd['extra.empty'] = torch.zeros(0, 3)
    sd['extra.scalar'] = torch.tensor(2.5)
    assert sd['extra.slice'].storage_offset() == 5 and sd['extra.transposed'].stride() == (1, 6)
    assert sd['extra.expanded'].stride() == (1, 0)

    torch.save(sd, path('state-dict.pth'))
    torch.save(sd, path('state-dict-p4.pth'), pickle_protocol=4)
    with open(path('state-dict.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'tensors': describe(sd)}, f, separators=(',', ':'))

    torch.save(dict(net.named_parameters()), path('parameters.pth'))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.randn(1, 3, 8, 8)).sum().backward()
    opt.step()
    # The model's weights are the small state_dict above; the optimizer's state only has to parse.
    torch.save({'model': small, 'optimizer': opt.state_dict(), 'epoch': 3}, path('checkpoint.pth'))
    torch.save({'model': collections.OrderedDict(list(small.items())[:2]), 'args': argparse.Namespace(lr=0.1)}, path('namespace-checkpoint.pth'))
    torch.save(collections.OrderedDict(list(small.items())[:2]), path('legacy.pth'), _use_new_zipfile_serialization=False)
    torch.save({'w': torch.zeros(2, dtype=torch.complex64)}, path('complex.pth'))
    torch.jit.save(torch.jit.script(nn.Linear(2, 1)), path('torchscript.pt'))

    # Other zip writers: Python's zipfile, DEFLATE, and a big-endian byteorder record.
    with zipfile.ZipFile(path('state-dict.pth')) as src:
        with zipfile.ZipFile(path('deflated.pth'), 'w', zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                put(dst, info.filename, src.read(info.filename))
    one = io.BytesIO()
    torch.save(collections.OrderedDict(list(small.items())[:1]), one)
    with zipfile.ZipFile(io.BytesIO(one.getvalue())) as src:
        with zipfile.ZipFile(path('big-endian.pth'), 'w') as dst:
            names = src.namelist()
            put(dst, names[0], src.read(names[0]))
            put(dst, 'archive/byteorder', b'big')
            for n in names[1:]:
                put(dst, n, src.read(n))


# --- hand-assembled pickles -------------------------------------------------------------------

def binunicode(s):
    b = s.encode('utf-8')
    return b'X' + struct.pack('<I', len(b)) + b


def short_binunicode(s):
    b = s.encode('utf-8')
    return b'\x8c' + bytes([len(b)]) + b


def storage_pid(dtype_class, key, numel):
    return b'(' + binunicode('storage') + b'ctorch\n' + dtype_class.encode() + b'\n' + binunicode(key) + binunicode('cpu') + b'J' + struct.pack('<i', numel) + b'tQ'


def ordered_dict():
    return b'ccollections\nOrderedDict\n)R'


def tensor(pid, offset, size, stride):
    ints = lambda xs: b'(' + b''.join(b'J' + struct.pack('<i', x) for x in xs) + b't'
    return b'ctorch._utils\n_rebuild_tensor_v2\n' + b'(' + pid + b'J' + struct.pack('<i', offset) + ints(size) + ints(stride) + b'\x89' + ordered_dict() + b'tR'


def write_archive(name, pkl, records=()):
    """A torch-layout zip (archive/data.pkl, archive/data/<key>, archive/version), STORED."""
    with zipfile.ZipFile(path(name), 'w') as z:
        put(z, 'archive/data.pkl', pkl)
        for key, data in records:
            put(z, f'archive/data/{key}', data)
        put(z, 'archive/version', b'3\n')


def hostile_files():
    cmd = binunicode(PAYLOAD)
    write_archive('hostile-os-system.pth', b'\x80\x02cos\nsystem\n' + cmd + b'\x85R.')
    write_archive('hostile-builtins-eval.pth', b'\x80\x02cbuiltins\neval\n' + binunicode(f"__import__('os').system('{PAYLOAD}')") + b'\x85R.')
    write_archive('hostile-posix-stack-global.pth', b'\x80\x04' + short_binunicode('posix') + short_binunicode('system') + b'\x93' + short_binunicode(PAYLOAD) + b'\x85R.')
    write_archive('hostile-inst.pth', b'\x80\x02(' + cmd + b'ios\nsystem\n.')
    four = struct.pack('<4f', 1, 2, 3, 4)
    write_archive('storage-short.pth', b'\x80\x02' + ordered_dict() + binunicode('w') + tensor(storage_pid('FloatStorage', '0', 4), 0, (4, 4), (4, 1)) + b's.', [('0', four)])
    write_archive('storage-record-short.pth', b'\x80\x02' + ordered_dict() + binunicode('w') + tensor(storage_pid('FloatStorage', '0', 16), 0, (4, 4), (4, 1)) + b's.', [('0', four[:8])])
    write_archive('hostile-huge-binunicode.pth', b'\x80\x02X' + struct.pack('<I', 0xFFFFFFF0) + b'abc.')
    write_archive('hostile-deep-marks.pth', b'\x80\x02' + b'(' * 5000 + b'.')
    write_archive('hostile-deep-tuples.pth', b'\x80\x02N' + b'\x85' * 20000 + b'.')

    with open(path('state-dict.pth'), 'rb') as f:
        good = f.read()
    with open(path('truncated.pth'), 'wb') as f:
        f.write(good[: len(good) * 3 // 5])
    cd = good.find(b'PK\x01\x02')  # the first central directory entry
    broken = bytearray(good)
    broken[cd + 3] = 0x09
    with open(path('bad-central-directory.pth'), 'wb') as f:
        f.write(bytes(broken))


# --- kdet's writer, checked by torch.load ------------------------------------------------------

def kdet_sample():
    """Tensors for kdet's writePth, each value exact in its dtype; `torch_dtype` is what it must write."""
    g = torch.Generator().manual_seed(1)
    f32 = lambda *shape: torch.randn(*shape, generator=g).reshape(-1).tolist()
    rows = [
        ('backbone.body.conv1.weight', 'F32', [4, 3, 3, 3], f32(4, 3, 3, 3), 'float32'),
        ('backbone.body.bn1.weight', 'F32', [4], f32(4), 'float32'),
        ('backbone.body.bn1.running_var', 'F32', [4], [0.5, 1.0, 1.5, 2.0], 'float32'),
        ('backbone.body.bn1.num_batches_tracked', 'F32', [], [1234], 'int64'),
        ('roi_heads.box_predictor.cls_score.bias', 'F16', [3], [0.099975586, -1.5, 2048.0], 'float16'),
        ('extra.int32', 'I32', [3], [-(2 ** 31), 2 ** 31 - 1, 5], 'int32'),
        ('extra.float64', 'float64', [2], [1 / 3, -1e-310], 'float64'),
        ('extra.bfloat16', 'bfloat16', [3], [1.0, -3.140625, 0.10009765625], 'bfloat16'),
        ('extra.int64', 'int64', [2], [2 ** 40 + 1, -7], 'int64'),
        ('extra.int16', 'int16', [2], [-32768, 32767], 'int16'),
        ('extra.int8', 'int8', [2], [-128, 127], 'int8'),
        ('extra.uint8', 'uint8', [2], [0, 255], 'uint8'),
        ('extra.bool', 'bool', [3], [1, 0, 1], 'bool'),
        ('extra.empty', 'float32', [0, 3], [], 'float32'),
        ('extra.scalar', 'float32', [], [0.5], 'float32'),
        ('extra.ünïcode', 'F32', [1], [0.25], 'float32'),
    ]
    out = []
    for name, dtype, shape, values, torch_dtype in rows:
        # Round floats to their dtype so the comparison after torch.load is exact.
        t = torch.tensor(values, dtype=torch.float64 if torch_dtype != 'int64' else torch.int64).to(TORCH_DTYPE[torch_dtype])
        exact = t.to(torch.float64).tolist() if t.dtype.is_floating_point else [int(v) for v in t.reshape(-1).tolist()]
        out.append({'name': name, 'dtype': dtype, 'shape': shape, 'values': exact, 'torch_dtype': torch_dtype})
    return out


def verify_kdet_written(p):
    with open(path('kdet-sample.json')) as f:
        sample = json.load(f)['tensors']
    with zipfile.ZipFile(p) as z:
        assert z.testzip() is None, 'CRC check failed'
    for weights_only in (False, True):
        sd = torch.load(p, weights_only=weights_only)
        assert isinstance(sd, collections.OrderedDict), type(sd)
        assert list(sd.keys()) == [s['name'] for s in sample], list(sd.keys())
        for s in sample:
            t = sd[s['name']]
            want = torch.tensor(s['values'], dtype=torch.float64 if s['torch_dtype'] != 'int64' else torch.int64).to(TORCH_DTYPE[s['torch_dtype']]).reshape(s['shape'])
            assert t.dtype == want.dtype, (s['name'], t.dtype, want.dtype)
            assert list(t.shape) == s['shape'], (s['name'], t.shape)
            assert t.is_contiguous() and torch.equal(t, want), s['name']
    # And as weights: a BatchNorm2d takes its part of the sample.
    bn = nn.BatchNorm2d(4)
    part = {k.split('bn1.')[1]: v for k, v in sd.items() if '.bn1.' in k}
    bn.load_state_dict(part, strict=False)
    assert int(bn.num_batches_tracked) == 1234
    print(f'verified {p} with torch {torch.__version__} (torch.load, weights_only=True, load_state_dict)')


def main():
    os.makedirs(OUT, exist_ok=True)
    real_files()
    hostile_files()
    with open(path('kdet-sample.json'), 'w') as f:
        json.dump({'tensors': kdet_sample()}, f, indent=None, separators=(',', ':'), ensure_ascii=False)
    node = shutil.which('node')
    if node:
        subprocess.run([node, 'scripts/run.mjs', 'scripts/fixtures-pth-kdet.ts'], cwd=ROOT, check=True)
    else:
        print('node not on PATH: kdet-written.pth not rewritten', file=sys.stderr)
    if os.path.exists(path('kdet-written.pth')):
        verify_kdet_written(path('kdet-written.pth'))
    total = sum(os.path.getsize(path(n)) for n in os.listdir(OUT))
    print(f'wrote {len(os.listdir(OUT))} files, {total} bytes, to {OUT}')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--verify':
        # test/interop/pth.test.ts: check a fresh writePth output against kdet-sample.json.
        verify_kdet_written(sys.argv[2])
    else:
        main()
