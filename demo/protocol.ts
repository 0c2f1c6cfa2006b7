// Messages between the page (main.ts) and the training worker (worker.ts).

export interface DemoSettings {
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

export type ToWorker =
  | { type: 'start'; settings: DemoSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'download' };

export type FromWorker =
  | { type: 'backend'; name: string; note: string; threads: number; crossOriginIsolated: boolean }
  | { type: 'warm'; built: number; listed: number; failed: string[]; seconds: number }
  | { type: 'ready'; classNames: string[]; teacher: boolean; images: ShownImage[]; seconds: number }
  | { type: 'step'; step: number; loss: number; parts: Record<string, number>; seconds: number; sinceStart: number }
  | { type: 'eval'; step: number; map50: number; perClassAP: number[]; studentBoxes: ShownBoxes[]; teacherBoxes: ShownBoxes[] | null }
  | { type: 'paused'; step: number }
  | { type: 'done'; step: number }
  | { type: 'checkpoint'; bytes: Uint8Array }
  | { type: 'error'; message: string };
