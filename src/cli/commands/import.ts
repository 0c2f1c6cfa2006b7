import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { TV_PRESETS, type TvPresetName } from '../../detection/tv-presets.js';
import { tensor } from '../../engine/ops/creation.js';
import type { Tensor } from '../../engine/tensor.js';
import { readStateDict, type StateDictFile } from '../../interop/state-dict.js';
import type { SafeTensor } from '../../nn/safetensors.js';
import { saveCheckpoint } from '../../nn/checkpoint.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { useBackend } from '../backend.js';
import { prepareOutFile, readBytes, writeAtomic } from '../files.js';
import { buildTvModel, TV_ARCHS, type TvCheckpointMeta, type TvSettings } from '../load-tv-model.js';
import { readSidecar, SIDECAR_NAME, type SidecarSettings } from '../tv-sidecar.js';

const flags = {
  torchvision: { type: 'string', default: '', help: 'the torchvision state_dict to import: a .pth (what torch.save writes; nothing in it is ever run) or a .safetensors file, told apart by content' },
  meta: { type: 'string', default: '', help: `the metadata sidecar kdet export --torchvision writes (builder, classes, norm, transform and RPN/box settings); default: the ${SIDECAR_NAME} beside the weights if there is one; 'none' reads none. Flags given override its values` },
  arch: { type: 'string', default: '', choices: TV_ARCHS, help: 'the torchvision builder the weights are for (default: the sidecar\'s)' },
  'num-classes': { type: 'int', default: 0, min: 0, max: 100_000, help: "torchvision's num_classes, the background INCLUDED (91 for COCO); checked against roi_heads.box_predictor.cls_score (0: read from it)" },
  'class-names': { type: 'string', default: '', help: "the num-classes − 1 foreground classes, comma-separated, torchvision label 1 first (default: the sidecar's, else class1,class2,…)" },
  key: { type: 'string', default: '', help: 'a .pth holding a checkpoint dict ({"model": state_dict, …}): the key of the state_dict' },
  norm: { type: 'string', default: 'frozen', choices: ['frozen', 'batch'], help: "FrozenBatchNorm2d (torchvision's choice with pretrained weights) or BatchNorm2d (weights=None); the same in eval mode; num_batches_tracked may be present or not (default: the sidecar's, else frozen)" },
  'min-size': { type: 'int', default: 0, min: 0, max: 8192, help: "the transform's min_size (0: the sidecar's, else the architecture's, 800, or 320 for _320_fpn)" },
  'max-size': { type: 'int', default: 0, min: 0, max: 8192, help: "the transform's max_size (0: the sidecar's, else the architecture's, 1333, or 640 for _320_fpn)" },
  out: { type: 'string', default: '', help: 'the kdet checkpoint to write (.safetensors), for kdet detect / kdet eval --checkpoint' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/** torchvision's ImageNet statistics, what every one of its detection builders normalises with. */
const IMAGE_MEAN = [0.485, 0.456, 0.406];
const IMAGE_STD = [0.229, 0.224, 0.225];
const CLS_SCORE = 'roi_heads.box_predictor.cls_score.weight';

/** The first few names of a list, for one-line messages. */
function some(names: readonly string[], n = 4): string {
  return names.slice(0, n).map((x) => `'${x}'`).join(', ') + (names.length > n ? `, … (${names.length} in all)` : '');
}

/**
 * `kdet import --torchvision <FILE> --arch <builder> --out <checkpoint>`: a torchvision Faster
 * R-CNN's state_dict into a kdet checkpoint that `kdet detect` and `kdet eval` run as torchvision
 * does. Nothing is written unless every tensor of the model was found, by name, with its shape.
 */
export async function importCommand(argv: string[]): Promise<void> {
  const { flags: f, given } = parseArgs('import', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('import', 'Import a torchvision Faster R-CNN (its state_dict as .pth or .safetensors) as a kdet checkpoint for kdet detect / eval.', flags));
  if (!f.torchvision) throw new UsageError('kdet import: --torchvision <FILE> is required (a torchvision Faster R-CNN state_dict, .pth or .safetensors)');
  const side = await findSidecar(f.meta, f.torchvision);
  if (!f.arch && !side) throw new UsageError(`kdet import: --arch is required: the builder the weights are for (${TV_ARCHS.join(', ')}), unless a ${SIDECAR_NAME} (kdet export --torchvision) lies beside the weights or --meta names one`);
  if (!f.out) throw new UsageError('kdet import: --out <checkpoint.safetensors> is required');
  if ((await stat(f.out).catch(() => null))?.isDirectory()) throw new UsageError(`kdet import: --out ${f.out}: is a folder; give a file name`);
  if (side && f.arch && f.arch !== side.settings.arch) {
    throw new UsageError(`kdet import: --arch ${f.arch}, but ${side.path} describes a ${side.settings.arch}; give the sidecar of these weights with --meta, or --meta none to read none`);
  }
  const arch = (f.arch || side!.settings.arch) as TvPresetName;
  const preset = TV_PRESETS[arch];
  const minSize = f['min-size'] || side?.settings.transform.minSize || preset.minSize;
  const maxSize = f['max-size'] || side?.settings.transform.maxSize || preset.maxSize;
  // torchvision lets max_size win over a larger min_size; kdet's transform wants min <= max.
  if (minSize > maxSize) throw new UsageError(`kdet import: --min-size ${minSize} is larger than ${f['max-size'] ? '--max-size' : `${side ? `${side.path}'s` : `${arch}'s`} max_size`} ${maxSize}${f['max-size'] ? '' : '; give --max-size too'}`);

  const path = f.torchvision;
  const file = readWeights(path, await readBytes(path, '--torchvision'), f.key);
  const fail = (why: string): never => {
    throw new UsageError(`kdet import: ${path}: ${why}`);
  };
  const cls = file.tensors.get(CLS_SCORE);
  if (!cls || cls.shape.length !== 2) fail(`no '${CLS_SCORE}' [classes, features]: not a torchvision Faster R-CNN state_dict (its first keys: ${some([...file.tensors.keys()])})`);
  const numClasses = cls!.shape[0]!;
  if (f['num-classes'] && f['num-classes'] !== numClasses) {
    fail(`--num-classes ${f['num-classes']}, but ${CLS_SCORE} has ${numClasses} rows: the weights are for num_classes=${numClasses} (torchvision counts the background)`);
  }
  if (numClasses < 2) fail(`${CLS_SCORE} has ${numClasses} row; a detector needs the background and at least one class`);
  // The sidecar's classes must be the weights' unless --class-names says what they are now.
  if (side && side.settings.numClasses !== numClasses && !f['class-names']) {
    fail(`${side.path} describes num_classes=${side.settings.numClasses}, but ${CLS_SCORE} has ${numClasses} rows: the weights are not the model it describes (a new box predictor?); give --class-names for the ${numClasses - 1} classes, or the right --meta`);
  }
  const classNames = f['class-names'] || !side ? parseClassNames(f['class-names'], numClasses) : side.settings.classNames;

  const settings: Omit<TvSettings, 'importedFrom'> = {
    numClasses,
    norm: (given.has('norm') || !side ? f.norm : side.settings.norm) as 'frozen' | 'batch',
    transform: side ? { ...side.settings.transform, minSize, maxSize } : { minSize, maxSize, imageMean: IMAGE_MEAN, imageStd: IMAGE_STD, sizeDivisible: 32 },
    rpn: side ? side.settings.rpn : preset.rpn,
    box: side ? side.settings.box : preset.box,
  };
  await useBackend('wasm');
  const model = buildTvModel(arch, settings);
  try {
    const values = matchTensors(file.tensors, model.namedParameters().map(([n, p]) => [n, [...p.shape]] as [string, number[]]), { arch, numClasses, norm: settings.norm, fail });
    model.loadStateDict(values);
    const meta: TvCheckpointMeta = {
      kind: 'detector',
      preset: arch,
      classNames,
      torchvision: { ...settings, importedFrom: { file: basename(path), format: file.format, ...(f.key ? { key: f.key } : {}), tensors: file.tensors.size, ...(side ? { meta: basename(side.path) } : {}) } },
    };
    // Only now, with every tensor in place, is anything written.
    await prepareOutFile('--out', f.out);
    const bytes = await saveCheckpoint(model, meta as unknown as Record<string, unknown>);
    await writeAtomic(f.out, bytes);
    if (side) console.log(`read ${side.path}${side.auto ? ' (beside the weights)' : ''}: ${side.settings.arch}, ${side.settings.numClasses} classes, ${side.settings.norm} norm, transform ${side.settings.transform.minSize}/${side.settings.transform.maxSize}${[...given].filter((g) => ['arch', 'class-names', 'norm', 'min-size', 'max-size'].includes(g)).map((g) => `; --${g} given`).join('')}`);
    for (const note of file.notes.slice(0, 3)) console.log(`note: ${note}`);
    if (file.notes.length > 3) console.log(`note: … and ${file.notes.length - 3} more like it`);
    console.log(`imported ${path} (${file.format}, ${file.tensors.size} tensors) as ${arch}: ${numClasses} classes with the background (${classNames.join(', ')}), images resized to ${minSize}/${maxSize}`);
    console.log(`wrote ${f.out} (${(bytes.length / 1e6).toFixed(1)} MB); run it with kdet detect --checkpoint ${f.out} <images>`);
  } finally {
    model.dispose();
  }
}

/**
 * The metadata sidecar: --meta's file, else a kdet-meta.json beside the weights (if there is one),
 * never with --meta none; checked (one line naming the field if it is wrong).
 */
async function findSidecar(meta: string, weights: string): Promise<{ path: string; auto: boolean; settings: SidecarSettings } | null> {
  if (meta === 'none') return null;
  const path = meta || join(dirname(weights), SIDECAR_NAME);
  if (!meta && !(await stat(path).catch(() => null))?.isFile()) return null;
  const bytes = await readBytes(path, '--meta');
  try {
    return { path, auto: !meta, settings: readSidecar(new TextDecoder().decode(bytes), path) };
  } catch (e) {
    // Found beside the weights rather than named: say how to do without it.
    throw meta ? e : new UsageError(`${(e as Error).message} (found beside the weights; --meta none reads none)`);
  }
}

/** The file's tensors; anything wrong with it (hostile, truncated, not a state_dict) is one line. */
function readWeights(path: string, bytes: Uint8Array, key: string): StateDictFile {
  let file: StateDictFile;
  try {
    file = readStateDict(bytes, path, key ? { key } : {});
  } catch (e) {
    // Every failure here is the file's: the readers refuse what they do not understand, and a
    // file shaped to crash them is still just a file that cannot be imported.
    const why = (e as Error).message.replace(/^kdet\.[\w.]+: /, '').replace(`${path}: `, '');
    throw new UsageError(`kdet import: ${path}: ${why}`);
  }
  if (file.metadata.format === 'kdet') throw new UsageError(`kdet import: ${path}: is a kdet checkpoint already; use it as it is (kdet detect --checkpoint ${path})`);
  return file;
}

function parseClassNames(flag: string, numClasses: number): string[] {
  if (!flag) return Array.from({ length: numClasses - 1 }, (_, i) => `class${i + 1}`);
  const names = flag.split(',').map((s) => s.trim());
  if (names.length !== numClasses - 1) throw new UsageError(`kdet import: --class-names gives ${names.length} names, but the model has ${numClasses - 1} classes besides the background (num_classes=${numClasses})`);
  if (names.some((n) => n === '')) throw new UsageError('kdet import: --class-names has an empty name');
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UsageError(`kdet import: --class-names names '${dup}' twice`);
  return names;
}

/**
 * The file's tensors for the model's names, checked: every name found (num_batches_tracked
 * excepted: FrozenBatchNorm2d has none, and a BatchNorm2d one missing is 0, unused in eval mode),
 * nothing left over, every shape equal, every value finite. Only then are tensors made.
 */
function matchTensors(
  tensors: Map<string, SafeTensor>,
  expected: [string, number[]][],
  ctx: { arch: TvPresetName; numClasses: number; norm: string; fail: (why: string) => never },
): Map<string, Tensor> {
  const { fail } = ctx;
  const counter = (n: string) => n.endsWith('.num_batches_tracked');
  const want = new Map(expected);
  const missing = expected.map(([n]) => n).filter((n) => !tensors.has(n) && !counter(n));
  const unexpected = [...tensors.keys()].filter((n) => !want.has(n) && !(counter(n) && ctx.norm === 'frozen'));
  if (missing.length || unexpected.length) {
    const parts = [missing.length ? `${missing.length} missing (${some(missing)})` : '', unexpected.length ? `${unexpected.length} unexpected (${some(unexpected)})` : ''].filter(Boolean);
    fail(`does not fit torchvision's ${ctx.arch}: ${parts.join(', ')}${keysHint(tensors, ctx.arch)}`);
  }
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) continue;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      fail(`'${name}' has shape [${t.shape}], but ${ctx.arch} with num_classes=${ctx.numClasses} has [${shape}] there`);
    }
    let bad = 0;
    for (const v of t.data) if (!Number.isFinite(v)) bad++;
    if (bad) fail(`'${name}' holds ${bad} non-finite value${bad === 1 ? '' : 's'} (NaN or infinity)`);
  }
  return new Map(expected.map(([name, shape]) => [name, tensors.has(name) ? tensor(tensors.get(name)!.data, shape) : tensor(new Float32Array(1), shape)]));
}

/** A likely cause of a key mismatch: another architecture, or DataParallel's `module.` prefix. */
function keysHint(tensors: Map<string, SafeTensor>, arch: TvPresetName): string {
  const names = [...tensors.keys()];
  if (names.length && names.every((n) => n.startsWith('module.'))) return "; its keys start with 'module.' (saved from DataParallel): save model.module.state_dict() instead";
  // Bottleneck blocks have a conv3; BasicBlock's (ResNet-18) do not.
  const resnet = tensors.has('backbone.body.layer1.0.conv1.weight') ? (tensors.has('backbone.body.layer1.0.conv3.weight') ? 'fasterrcnn_resnet50_fpn' : 'fasterrcnn_resnet18_fpn') : null;
  const mobilenet = tensors.has('backbone.body.0.0.weight');
  if (resnet && arch !== resnet) return `; the weights look like a ResNet-${resnet === 'fasterrcnn_resnet50_fpn' ? 50 : 18} model: --arch ${resnet}?`;
  if (mobilenet && TV_PRESETS[arch].body !== 'mobilenet_v3_large') return '; the weights look like a MobileNetV3 model: --arch fasterrcnn_mobilenet_v3_large_fpn or fasterrcnn_mobilenet_v3_large_320_fpn?';
  if (tensors.has('roi_heads.box_head.0.0.weight')) return '; the box head is a conv head (fasterrcnn_resnet50_fpn_v2?), which kdet does not have';
  return '';
}
