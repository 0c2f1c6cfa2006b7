import { tensor } from '../engine/ops/creation.js';
import type { Tensor } from '../engine/tensor.js';
import type { Module } from './module.js';
import type { Optimizer } from './optim.js';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from './safetensors.js';

/** Optimiser slot tensors are stored as `optimizer.<slot>.<parameter name>`. */
const OPT_PREFIX = 'optimizer.';

/**
 * A training checkpoint as safetensors: the model's parameters under their PyTorch-style names,
 * optionally the optimiser's state, and JSON metadata (config, step, RNG state, …) as strings.
 */
export async function saveCheckpoint(model: Module, metadata: Record<string, unknown>, optimizer?: Optimizer, opts: { half?: boolean } = {}): Promise<Uint8Array> {
  const tensors = new Map<string, SafeTensor>();
  const named = model.namedParameters();
  for (const [name, p] of named) {
    const t = await toSafe(p.value);
    // Half precision halves shipped files; training checkpoints stay float32 for exact resume.
    tensors.set(name, opts.half && t.dtype === 'F32' ? { ...t, dtype: 'F16' } : t);
  }
  const meta: Record<string, string> = { format: 'kdet', kdet: JSON.stringify(metadata) };
  if (optimizer) {
    const nameOf = new Map(named.map(([n, p]) => [p, n]));
    const state = optimizer.state();
    meta.optimizer = JSON.stringify({ kind: optimizer.constructor.name, step: state.step, lr: optimizer.lr });
    for (const [slot, list] of Object.entries(state.slots)) {
      for (let i = 0; i < list.length; i++) {
        const t = list[i];
        const pname = nameOf.get(optimizer.params[i]!);
        if (t && pname) tensors.set(`${OPT_PREFIX}${slot}.${pname}`, await toSafe(t));
      }
    }
  }
  return encodeSafetensors(tensors, meta);
}

async function toSafe(t: Tensor): Promise<SafeTensor> {
  const data = await t.data();
  return { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: [...t.shape], data };
}

/** Read only the kdet metadata of a checkpoint (to build the model it describes). */
export function readCheckpointMetadata(bytes: Uint8Array, source = 'checkpoint'): Record<string, unknown> {
  const { metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== 'kdet' || !metadata.kdet) throw new Error(`kdet.loadCheckpoint: ${source} is not a kdet checkpoint (no kdet metadata)`);
  return JSON.parse(metadata.kdet) as Record<string, unknown>;
}

/**
 * Load parameters (and optimiser state) into an existing model. Every parameter of the model
 * must be present with the same shape; unknown tensors are an error (a checkpoint of another
 * architecture). Returns the metadata.
 */
export function loadCheckpoint(bytes: Uint8Array, model: Module, optimizer?: Optimizer, source = 'checkpoint'): Record<string, unknown> {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const named = model.namedParameters();
  const params = new Map(named);
  const fail = (why: string): never => {
    throw new Error(`kdet.loadCheckpoint: ${source}: ${why}`);
  };
  for (const [name, p] of named) {
    const t = tensors.get(name);
    if (!t) fail(`parameter '${name}' is missing`);
    if (t!.dtype === 'I32') fail(`parameter '${name}' is I32, expected a float type`);
    if (t!.shape.length !== p.shape.length || t!.shape.some((d, i) => d !== p.shape[i])) {
      fail(`parameter '${name}' has shape [${t!.shape}] but the model expects [${p.shape}]`);
    }
  }
  for (const name of tensors.keys()) {
    if (!params.has(name) && !name.startsWith(OPT_PREFIX)) fail(`unexpected tensor '${name}' (checkpoint of another architecture?)`);
  }
  // All checks passed: only now touch the model, so a bad file never leaves it half-loaded.
  for (const [name, p] of named) {
    const t = tensors.get(name)!;
    p.assign(tensor(t.data, t.shape, { backend: p.value.backend }));
  }
  if (optimizer) {
    const info = metadata.optimizer ? (JSON.parse(metadata.optimizer) as { kind: string; step: number }) : null;
    if (!info) fail('has no optimizer state to resume from');
    if (info!.kind !== optimizer.constructor.name) fail(`optimizer state is ${info!.kind}, not ${optimizer.constructor.name}`);
    const nameOf = new Map(named.map(([n, p]) => [p, n]));
    const slots: Record<string, (Tensor | null)[]> = {};
    for (const slot of Object.keys(optimizer.state().slots)) {
      slots[slot] = optimizer.params.map((p) => {
        const t = tensors.get(`${OPT_PREFIX}${slot}.${nameOf.get(p)}`);
        return t ? tensor(t.data, t.shape, { backend: p.value.backend }) : null;
      });
    }
    optimizer.loadState({ step: info!.step, slots });
  }
  return metadata.kdet ? (JSON.parse(metadata.kdet) as Record<string, unknown>) : {};
}
