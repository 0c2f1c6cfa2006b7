/**
 * One entry point for `kdet import --torchvision <FILE>`: a state_dict saved as safetensors or as
 * a torch.save `.pth` (told apart by the ZIP signature), returned as kdet's float32 safetensors
 * tensors, the form importTorchvision takes. Integer tensors (num_batches_tracked) become float32
 * too, as kdet keeps them.
 */
import { decodeSafetensors, type SafeTensor } from '../nn/safetensors.js';
import { looksLikePth, readPth, type PthTensor } from './pth.js';

export interface StateDictFile {
  format: 'pth' | 'safetensors';
  tensors: Map<string, SafeTensor>;
  /** Lossy conversions worth telling the user about, one line each. */
  notes: string[];
}

export function readStateDict(bytes: Uint8Array, source = 'state_dict', opts: { key?: string } = {}): StateDictFile {
  const notes: string[] = [];
  if (looksLikePth(bytes)) {
    const pth = readPth(bytes, source, { key: opts.key, onNote: (n) => notes.push(n) });
    return { format: 'pth', tensors: pthToSafetensors(pth, notes), notes };
  }
  if (opts.key !== undefined) throw new Error(`kdet.pth: ${source}: a key ('${opts.key}') applies only to .pth checkpoints; this is not a zip archive`);
  const { tensors } = decodeSafetensors(bytes, source);
  const out = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) out.set(name, { dtype: 'F32', shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) });
  return { format: 'safetensors', tensors: out, notes };
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
