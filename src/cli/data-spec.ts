/**
 * `--data <spec>` in every command: the built-in scenes (`fashion`, `shapes`) or a user's own
 * folder (`voc:<DIR>`, a PASCAL VOC tree; `coco:<ANNOTATIONS.json>`, a COCO file). A spec is parsed
 * and its path checked before any work starts, and a user's data set is recorded in the checkpoint
 * (path, split, class names, the data set's own category ids) so that `eval`, `distill` and
 * `detect` find the same data and write results in the data set's own ids.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { openCoco, type CocoDataset } from '../data/coco.js';
import { openVoc, type VocDataset } from '../data/voc.js';
import type { InvalidBoxPolicy } from '../data/boxes.js';
import { UsageError } from './args.js';
import { DATA_SETS, type DataSetName } from './presets.js';
import { didYouMean } from './suggest.js';

/** A user's PASCAL VOC tree, as a checkpoint records it. */
export interface VocDataSpec {
  name: 'voc';
  /** Absolute path of the folder holding Annotations/ (and JPEGImages/, ImageSets/Main/). */
  root: string;
  /** ImageSets/Main/<split>.txt; absent: trainval.txt if present, else every annotation. */
  split?: string;
  classNames: string[];
}

/** A user's COCO annotations file, as a checkpoint records it. */
export interface CocoDataSpec {
  name: 'coco';
  /** Absolute path of the JSON. */
  annotations: string;
  /** Folder the images' file names are relative to (default: the JSON's folder). */
  images?: string;
  classNames: string[];
  /** The data set's own category id of each label (label k ↔ categoryIds[k - 1]). */
  categoryIds: number[];
}

export type OwnDataSpec = VocDataSpec | CocoDataSpec;

/** What `--data` names before the data set is opened. */
export type DataArg = { name: DataSetName } | { name: 'voc'; root: string } | { name: 'coco'; annotations: string };

export const DATA_HELP = "data set: fashion or shapes (built in), voc:<DIR> (a PASCAL VOC folder) or coco:<FILE.json> (COCO annotations)";

/** Parse and check a `--data`-like value: a built-in name, voc:<existing folder>, coco:<existing file>. */
export function parseDataArg(command: string, flag: string, value: string): DataArg {
  if ((DATA_SETS as readonly string[]).includes(value)) return { name: value as DataSetName };
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : '';
  const path = colon > 0 ? value.slice(colon + 1) : '';
  if (kind === 'voc' || kind === 'coco') {
    if (path === '') throw new UsageError(`kdet ${command}: ${flag} ${value}: give a path after '${kind}:'`);
    const want = kind === 'voc' ? 'folder' : 'file';
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new UsageError(`kdet ${command}: ${flag} ${value}: no such ${want} '${path}'`);
    }
    if (kind === 'voc' && !st.isDirectory()) throw new UsageError(`kdet ${command}: ${flag} ${value}: '${path}' is not a folder (a VOC tree holds Annotations/ and JPEGImages/)`);
    if (kind === 'coco' && !st.isFile()) throw new UsageError(`kdet ${command}: ${flag} ${value}: '${path}' is not a file (give the COCO annotations JSON)`);
    return kind === 'voc' ? { name: 'voc', root: resolve(path) } : { name: 'coco', annotations: resolve(path) };
  }
  const names = [...DATA_SETS, 'voc:', 'coco:'];
  throw new UsageError(`kdet ${command}: ${flag} must be fashion, shapes, voc:<DIR> or coco:<FILE.json>, got '${value}'${didYouMean(colon > 0 ? `${kind}:` : value, names, (c) => `'${c}'`)}`);
}

export function isOwnData(arg: { name: string }): arg is OwnDataSpec | Exclude<DataArg, { name: DataSetName }> {
  return arg.name === 'voc' || arg.name === 'coco';
}

export interface OpenOwnOptions {
  /** VOC: ImageSets/Main/<split>.txt. */
  split?: string;
  /** COCO: the images' folder. */
  images?: string;
  /** VOC: the class list (others refused); default: the sorted names seen. */
  classNames?: readonly string[];
  invalidBoxes?: InvalidBoxPolicy;
  /** Where the readers' one-line warnings go (default: stderr). */
  onWarning?: (message: string) => void;
}

/** Open a user's data set; every bad file is a DataError (one line from the CLI). */
export async function openOwnData(arg: Exclude<DataArg, { name: DataSetName }> | OwnDataSpec, o: OpenOwnOptions = {}): Promise<{ dataset: VocDataset | CocoDataset; spec: OwnDataSpec }> {
  const common = { ...(o.invalidBoxes ? { invalidBoxes: o.invalidBoxes } : {}), onWarning: o.onWarning ?? ((m: string) => console.warn(`warning: ${m}`)) };
  if (arg.name === 'voc') {
    const split = o.split ?? ('split' in arg ? arg.split : undefined);
    const classNames = o.classNames ?? ('classNames' in arg ? arg.classNames : undefined);
    const dataset = await openVoc({ root: arg.root, ...(split ? { split } : {}), classNames: classNames ? [...classNames] : 'infer', ...common });
    return { dataset, spec: { name: 'voc', root: arg.root, ...(split ? { split } : {}), classNames: [...dataset.classNames] } };
  }
  const images = o.images ?? ('images' in arg ? arg.images : undefined);
  const dataset = await openCoco({ annotations: arg.annotations, ...(images ? { images: resolve(images) } : {}), ...common });
  return {
    dataset,
    spec: { name: 'coco', annotations: arg.annotations, ...(images ? { images: resolve(images) } : {}), classNames: [...dataset.classNames], categoryIds: [...dataset.categoryIds] },
  };
}

/** Whether a checkpoint's recorded data spec describes a user's data set kdet can reopen. */
export function isValidOwnSpec(d: unknown): d is OwnDataSpec {
  if (d === null || typeof d !== 'object') return false;
  const s = d as Record<string, unknown>;
  const names = Array.isArray(s.classNames) && s.classNames.every((n) => typeof n === 'string');
  if (s.name === 'voc') return typeof s.root === 'string' && names && (s.split === undefined || typeof s.split === 'string');
  if (s.name === 'coco') {
    return typeof s.annotations === 'string' && names && Array.isArray(s.categoryIds) && s.categoryIds.length === (s.classNames as unknown[]).length && (s.images === undefined || typeof s.images === 'string');
  }
  return false;
}

/** `--classes a,b,c` → the list, refusing empty or repeated names. */
export function parseClasses(command: string, value: string): string[] | undefined {
  if (value === '') return undefined;
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new UsageError(`kdet ${command}: --classes '${value}' has an empty name`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new UsageError(`kdet ${command}: --classes names '${dup}' twice`);
  return names;
}

/**
 * A model knows its classes by position, so a data set must name the same classes in the same
 * order (`whose`: 'the teacher', 'the checkpoint', 'the training data').
 */
export function checkSameClasses(command: string, spec: OwnDataSpec, expected: readonly string[], whose: string): void {
  if (spec.classNames.join('\n') !== expected.join('\n')) {
    throw new UsageError(`kdet ${command}: ${describeData(spec)} has the classes ${spec.classNames.join(', ')}; ${whose} knows ${expected.join(', ')} (in this order)`);
  }
}

/** The data set's own category id of each label: COCO's ids, else 1..C. */
export function categoryIdsOf(spec: OwnDataSpec): number[] {
  return spec.name === 'coco' ? spec.categoryIds : spec.classNames.map((_, k) => k + 1);
}

/** Refuses the flags that only a user's data takes when `--data` is a built-in data set. */
export function refuseOwnDataFlags(command: string, flags: Readonly<Record<string, unknown>>, names: readonly string[]): void {
  for (const k of names) {
    if (flags[k] !== '') throw new UsageError(`kdet ${command}: --${k} applies to a user's data (--data voc:<DIR> or coco:<FILE.json>)`);
  }
}

/** A short description of a data spec for progress lines. */
export function describeData(spec: { name: string }): string {
  if (spec.name === 'voc') return `VOC ${(spec as VocDataSpec).root}${(spec as VocDataSpec).split ? ` (${(spec as VocDataSpec).split})` : ''}`;
  if (spec.name === 'coco') return `COCO ${(spec as CocoDataSpec).annotations}`;
  return spec.name;
}
