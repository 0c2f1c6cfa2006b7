import { basename, join } from 'node:path';
import { tensor } from '../../engine/ops/creation.js';
import { exportTorchvision } from '../../interop/kdet-presets.js';
import { encodeSafetensors } from '../../nn/safetensors.js';
import { writePth } from '../../interop/pth.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { evaluateDetector } from '../../detection/evaluate.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir, prepareOutFile, writeAtomic } from '../files.js';
import { buildDetector, builtinData, loadDetector, readAnyDetectorFile, readDetectorFile } from '../load-model.js';
import { buildImportedDetector, type TvDetectorFile } from '../load-tv-model.js';
import type { SafeTensor } from '../../nn/safetensors.js';
import { describeData } from '../data-spec.js';
import { openCheckpointEvalData } from '../held-out.js';
import { openDataSet } from '../presets.js';
import { formatSidecar, SIDECAR_NAME, sidecarOf } from '../tv-sidecar.js';

const flags = {
  torchvision: { type: 'boolean', default: false, help: 'write torchvision FasterRCNN names and layouts into <out>/model.safetensors and <out>/model.pth (what torch.save writes; torch.load reads it)' },
  half: { type: 'boolean', default: false, help: 'write a kdet checkpoint with float16 weights to the file <out> (compact shipped models)' },
  checkpoint: { type: 'string', default: '', help: 'detector checkpoint' },
  out: { type: 'string', default: 'export', help: 'output folder' },
  images: { type: 'int', default: 0, min: 0, max: 256, help: 'also write this many test images and kdet’s detections on them (for scripts/torchvision_check.py)' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function exportCommand(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('export', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('export', 'Export a detector for torchvision (continue training in PyTorch).', flags));
  if (f.torchvision === f.half) throw new UsageError('kdet export: pass exactly one of --torchvision or --half');
  if (!f.checkpoint) throw new UsageError('kdet export: --checkpoint is required');
  if (f.half && f.images > 0) throw new UsageError('kdet export: --images goes with --torchvision (the check script reads them from its folder), not --half');
  // Everything is checked before the backend or the model exists: checkpoint, then the output.
  const any = await readAnyDetectorFile(f.checkpoint);
  if ('imported' in any) return exportTvFamily(any, f);
  const file = await readDetectorFile(f.checkpoint);
  if (f.half) await prepareOutFile('--out', f.out);
  else await prepareOutDir('--out', f.out);
  await useBackend(f.backend);
  const model = buildDetector(file);
  const meta = file.meta;
  if (f.half) {
    const evalData = await openCheckpointEvalData(meta);
    const m = await evaluateDetector(model, evalData.dataset);
    const bytes = await saveCheckpoint(model, { ...meta, metrics: { map50: m.map50, map50voc07: m.map50voc07, cocoAP: m.cocoAP, perClassAP: m.perClassAP, images: m.images }, precision: 'float16' }, undefined, { half: true });
    await writeAtomic(f.out, bytes);
    const { model: back } = await loadDetector(f.out);
    const m16 = await evaluateDetector(back, evalData.dataset);
    // Record what the shipped (float16) weights score, not the float32 ones.
    const metrics16 = { map50: m16.map50, map50voc07: m16.map50voc07, cocoAP: m16.cocoAP, perClassAP: m16.perClassAP, images: m16.images, float32map50: m.map50 };
    await writeAtomic(f.out, await saveCheckpoint(back, { ...meta, metrics: metrics16, precision: 'float16' }, undefined, { half: true }));
    back.dispose();
    console.log(`wrote ${f.out} (${(bytes.length / 1e6).toFixed(2)} MB, float16): mAP@0.5 ${m.map50.toFixed(4)} in float32, ${m16.map50.toFixed(4)} in float16 on ${m.images} images of ${evalData.what}`);
    return;
  }
  const weights = await exportTorchvision(model);
  await writeAtomic(join(f.out, 'model.safetensors'), encodeSafetensors(weights, { format: 'pt', kdet_config: JSON.stringify(meta.model) }));
  await writeAtomic(join(f.out, 'model.pth'), writePth(weights));
  console.log(`wrote ${join(f.out, 'model.safetensors')} and model.pth (${weights.size} tensors, torchvision names)`);
  if (f.images > 0) {
    const builtin = builtinData(meta);
    if (!builtin) throw new UsageError(`kdet export: --images draws the built-in test scenes; ${f.checkpoint} was trained on ${describeData(meta.data)}`);
    const test = await openDataSet({ ...builtin, testLength: f.images }, 'test');
    const samples = Array.from({ length: f.images }, (_, i) => test.get(i));
    const { height, width } = samples[0]!;
    const pixels = new Float32Array(f.images * 3 * height * width);
    samples.forEach((s, i) => pixels.set(s.image, i * 3 * height * width));
    const images = tensor(pixels, [f.images, 3, height, width]);
    const dets = await model.detect(images);
    images.dispose();
    await writeAtomic(join(f.out, 'images.f32'), new Uint8Array(pixels.buffer));
    await writeAtomic(
      join(f.out, 'kdet-detections.json'),
      JSON.stringify({ shape: [f.images, 3, height, width], detections: dets.map((d) => ({ boxes: Array.from(d.boxes), scores: Array.from(d.scores), labels: Array.from(d.labels) })) }),
    );
    console.log(`wrote ${f.images} images and kdet's detections; check with: /usr/bin/python3 scripts/torchvision_check.py ${f.out}`);
  }
}

/**
 * A torchvision-family checkpoint (imported, or trained by kdet train --preset <builder>) back to
 * torchvision: its parameters already carry torchvision's names and layouts, so they are written
 * as they are (num_batches_tracked as int64 in the .pth); torchvision's builder with the same
 * num_classes loads either file with load_state_dict.
 */
async function exportTvFamily(file: TvDetectorFile, f: { torchvision: boolean; half: boolean; out: string; images: number; backend: string; checkpoint: string }): Promise<void> {
  if (f.half) throw new UsageError(`kdet export: --half writes kdet's own presets; '${f.checkpoint}' is a torchvision-family model (${file.meta.preset}): export it with --torchvision`);
  if (f.images > 0) throw new UsageError(`kdet export: --images is for kdet's own presets (scripts/torchvision_check.py rebuilds them); '${f.checkpoint}' is a ${file.meta.preset}: run kdet detect --json on your images and torchvision on the exported model`);
  await prepareOutDir('--out', f.out);
  await useBackend(f.backend);
  const detector = buildImportedDetector(file);
  try {
    const weights = new Map<string, SafeTensor>();
    for (const [name, p] of detector.model.namedParameters()) weights.set(name, { dtype: 'F32', shape: [...p.shape], data: (await p.value.data()) as Float32Array });
    const tv = file.meta.torchvision;
    await writeAtomic(join(f.out, 'model.safetensors'), encodeSafetensors(weights, { format: 'pt', arch: file.meta.preset, num_classes: String(tv.numClasses), kdet_torchvision: JSON.stringify(tv), class_names: JSON.stringify(file.meta.classNames) }));
    await writeAtomic(join(f.out, 'model.pth'), writePth(weights));
    // What the weights do not carry (builder, classes, transform, RPN and box settings), for PyTorch
    // and for kdet import to read back.
    await writeAtomic(join(f.out, SIDECAR_NAME), formatSidecar(sidecarOf(file.meta, basename(f.checkpoint))));
    console.log(`wrote ${join(f.out, 'model.safetensors')}, model.pth and ${SIDECAR_NAME} (${weights.size} tensors): torchvision.models.detection.${file.meta.preset}(weights=None, weights_backbone=None, num_classes=${tv.numClasses}, min_size=${tv.transform.minSize}, max_size=${tv.transform.maxSize}) loads either with load_state_dict${tv.norm === 'frozen' ? ' (FrozenBatchNorm2d has no num_batches_tracked: load with strict=False, which leaves only those out)' : ''}; ${SIDECAR_NAME} holds its builder, classes and transform (builder_kwargs), and kdet import reads it back`);
  } finally {
    detector.dispose();
  }
}
