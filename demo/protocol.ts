// Messages between the page (main.ts) and the training worker (worker.ts).

export interface DemoSettings {
  /**
   * 'kdet': kdet's own VGG-style student from the shipped teacher (data: `data`). 'family': a
   * fasterrcnn_mobilenet_v3_large_320_fpn student from a torchvision-family teacher the user
   * gives (`familyTeacher`), on the built-in scenes its metadata records.
   */
  mode: 'kdet' | 'family';
  data: 'fashion' | 'shapes';
  backend: 'auto' | 'webgpu' | 'wasm';
  /** Scene side in pixels (the teacher learnt 128; smaller is faster on software GPUs). */
  size: number;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  evalEvery: number;
  /** Held-out scenes in each evaluation. */
  testImages: number;
  /** Test images drawn with boxes. */
  shownImages: number;
  teacherUrl: string;
  /** Family mode: the teacher checkpoint, as bytes (a file picked or dropped) or a URL to fetch. */
  familyTeacher: { name: string; bytes: Uint8Array } | { name: string; url: string } | null;
  /** Family mode: the distillation recipe (src/distillation/recipes.ts: soft-heads, paper). */
  recipe: string;
  /** Family mode: proposals sampled per image for the box head (torchvision's box_batch_size_per_image). */
  boxBatch: number;
  /** WebGPU: build the listed pipelines while loading (demo/pipelines.json); off unless URL ?warm=1 (see demo/README.md). */
  warmUp: boolean;
}

/** Boxes as plain arrays: [x1,y1,x2,y2]* in the image's pixels, labels 1..C. */
export interface ShownBoxes {
  boxes: number[];
  labels: number[];
  scores: number[];
}

export interface ShownImage {
  width: number;
  height: number;
  /** CHW float RGB in [0,1]. */
  pixels: Float32Array;
  truth: ShownBoxes;
}

/** Family mode: what the worker built, for the page to say. */
export interface FamilyInfo {
  teacher: { name: string; preset: string; parameters: number; classes: number; trainedOn: string; metrics: { map50?: number } | null };
  student: { preset: string; parameters: number; trainable: number };
  recipe: string;
  /** The recipe's one-line description. */
  recipeDescription: string;
  data: string;
  /** Scene side = the student's min/max size. */
  size: number;
  boxBatch: number;
  /** Seconds spent reading and building the teacher (fetch included), making the scenes, building the student and distiller. */
  seconds: { teacher: number; data: number; student: number };
}

export type ToWorker =
  | { type: 'start'; settings: DemoSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'download' };

export type FromWorker =
  | { type: 'backend'; name: string; note: string; threads: number; crossOriginIsolated: boolean }
  | { type: 'warm'; built: number; listed: number; failed: string[]; seconds: number }
  | { type: 'ready'; classNames: string[]; teacher: boolean; images: ShownImage[]; seconds: number; family?: FamilyInfo }
  | { type: 'step'; step: number; loss: number; parts: Record<string, number>; seconds: number; sinceStart: number }
  | { type: 'eval'; step: number; map50: number; perClassAP: number[]; studentBoxes: ShownBoxes[]; teacherBoxes: ShownBoxes[] | null }
  | { type: 'paused'; step: number }
  | { type: 'done'; step: number }
  | { type: 'checkpoint'; bytes: Uint8Array }
  | { type: 'error'; message: string };
