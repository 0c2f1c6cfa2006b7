/**
 * One entry point for `kdet import --torchvision <FILE>`: a state_dict saved as safetensors or as
 * a torch.save `.pth` (told apart by the ZIP signature), returned as kdet's float32 safetensors
 * tensors, which `kdet import` matches to the model by name. Integer tensors (num_batches_tracked) become float32
 * too, as kdet keeps them. safetensors files are read with torch's dtypes (I64, F64, BF16, …:
 * what `safetensors.torch.save_file` writes), not only the three kdet's checkpoints use.
 */
import type { SafeTensor } from '../nn/safetensors.js';
import { looksLikePth, readPth, type PthTensor } from './pth.js';
import { decodeTorchSafetensors } from './safetensors-torch.js';

export interface StateDictFile {
  format: 'pth' | 'safetensors';
  tensors: Map<string, SafeTensor>;
  /** Lossy conversions worth telling the user about, one line each. */
  notes: string[];
  /** A safetensors file's __metadata__ (a kdet checkpoint says format 'kdet'); {} for a .pth. */
  metadata: Record<string, string>;
}

export function readStateDict(bytes: Uint8Array, source = 'state_dict', opts: { key?: string } = {}): StateDictFile {
  const notes: string[] = [];
  if (looksLikePth(bytes)) {
    const pth = readPth(bytes, source, { key: opts.key, onNote: (n) => notes.push(n) });
    return { format: 'pth', tensors: pthToSafetensors(pth, notes), notes, metadata: {} };
  }
  // A pickle's PROTO opcode: torch.save's legacy format (PROTO 2, LONG1 magic: readPth refuses it
  // by name) or some other bare pickle. (A safetensors header length can start with 0x80 too, but
  // then its JSON header starts at byte 8.)
  if (bytes[0] === 0x80 && bytes[8] !== 0x7b) {
    if (bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a) readPth(bytes, source);
    throw new Error(`kdet.pth: ${source}: a bare pickle, not a torch.save archive (torch >= 1.6) or a safetensors file; nothing in it was run`);
  }
  if (opts.key !== undefined) throw new Error(`kdet.pth: ${source}: a key ('${opts.key}') applies only to .pth checkpoints; this is not a zip archive`);
  const { tensors, metadata } = decodeTorchSafetensors(bytes, source);
  for (const [name, t] of tensors) if (t.dtype === 'float64') notes.push(`'${name}' is float64 in ${source}; read as float32 (rounded to nearest)`);
  return { format: 'safetensors', tensors: pthToSafetensors(tensors, notes), notes, metadata };
}

/** float32 copies (views where already float32); integers past 2^24 are rounded, with a note. */
export function pthToSafetensors(tensors: Map<string, PthTensor>, notes: string[] = []): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) {
    let data: Float32Array;
    if (t.data instanceof Float32Array) data = t.data;
    else {
      data = Float32Array.from(t.data);
      if (t.data.some((v, i) => v !== data[i])) notes.push(`'${name}' (${t.dtype}) holds integers beyond 2^24, rounded to float32`);
    }
    out.set(name, { dtype: 'F32', shape: t.shape, data });
  }
  return out;
}
