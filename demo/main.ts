// The demo page: settings, start / pause / download, live loss and mAP charts, and test images
// with the student's (solid) and teacher's (dashed) boxes. All training happens in worker.ts;
// this thread only draws, so the page stays responsive. URL parameters preset the settings
// (?data=fashion&backend=auto&size=64&batch=1&steps=200&evalEvery=10&testImages=8&autostart=1).
// Family mode (?mode=family): a MobileNetV3-320 student from a torchvision-family teacher that
// the user picks or drops, or that ?teacher=<url> names (&recipe=paper&boxBatch=64 …).
import { lineChart, type Series } from '../src/cli/report.js';
import { classColour } from '../src/data/draw.js';
import type { DemoSettings, FamilyInfo, FromWorker, ShownBoxes, ShownImage, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

/** What the page has seen, readable by tests (window.kdetDemo). */
const state = {
  mode: 'kdet' as DemoSettings['mode'],
  /** Family mode: the teacher and student the worker built. */
  family: null as FamilyInfo | null,
  backend: '',
  backendNote: '',
  steps: [] as { step: number; loss: number; parts: Record<string, number>; sinceStart: number }[],
  evals: [] as { step: number; map50: number }[],
  studentBoxesDrawn: 0,
  teacherBoxesDrawn: 0,
  /** Times the test scenes were redrawn with the student's boxes (once per evaluation). */
  boxRedraws: 0,
  loadedAt: performance.now(),
  /** ms after load: the worker's backend is up, the models and data are loaded, the first step is done. */
  backendMs: NaN,
  readyMs: NaN,
  /** WebGPU: the pipelines built ahead of the first step (demo/pipelines.json), and when that ended. */
  warm: null as null | { built: number; listed: number; failed: string[]; atMs: number },
  firstStepMs: NaN,
  /** The first step's own time in the worker (s). */
  firstStepSeconds: NaN,
  threads: 0,
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  workerCrossOriginIsolated: false,
  maxFreezeMs: 0,
  /** Stalls over 50 ms: when (ms after load) and how long. */
  freezes: [] as { atMs: number; ms: number }[],
  /** Main-thread tasks of 50 ms or more (PerformanceObserver 'longtask'): a late timer with no
   * long task means the thread was not scheduled (a busy machine), not that this page blocked it. */
  longTasks: [] as { atMs: number; ms: number }[],
  done: false,
  error: '',
  paused: false,
};
(globalThis as unknown as { kdetDemo: typeof state }).kdetDemo = state;

// Longest main-thread stall: a 10 ms timer that arrives late measures how long the page froze.
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - lastTick - 10;
  state.maxFreezeMs = Math.max(state.maxFreezeMs, late);
  if (late > 50 && state.freezes.length < 50) state.freezes.push({ atMs: Math.round(now - state.loadedAt), ms: Math.round(late) });
  lastTick = now;
}, 10);

try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (state.longTasks.length < 50) state.longTasks.push({ atMs: Math.round(e.startTime - state.loadedAt), ms: Math.round(e.duration) });
    }
  }).observe({ type: 'longtask', buffered: true });
} catch {
  // No long-task timing in this browser: the late-timer measure above still runs.
}

/** Family mode: the teacher file picked or dropped (read at each Start). */
let teacherFile: File | null = null;

async function settings(): Promise<DemoSettings> {
  const num = (id: string): number => Number(($(id) as HTMLInputElement).value);
  const mode = ($('mode') as HTMLSelectElement).value as DemoSettings['mode'];
  const url = params.get('teacher');
  const familyTeacher: DemoSettings['familyTeacher'] =
    mode !== 'family' ? null
    : teacherFile ? { name: teacherFile.name, bytes: new Uint8Array(await teacherFile.arrayBuffer()) }
    : url ? { name: url, url: new URL(url, location.href).href }
    : null;
  return {
    mode,
    familyTeacher,
    recipe: ($('recipe') as HTMLSelectElement).value,
    boxBatch: num('boxBatch'),
    data: ($('data') as HTMLSelectElement).value as DemoSettings['data'],
    backend: ($('backend') as HTMLSelectElement).value as DemoSettings['backend'],
    size: num('size'),
    steps: num('steps'),
    batch: num('batch'),
    lr: num('lr'),
    seed: 0,
    evalEvery: num('evalEvery'),
    testImages: num('testImages'),
    shownImages: 4,
    teacherUrl: new URL('teacher.safetensors', location.href).href,
    warmUp: params.get('warm') === '1',
  };
}

for (const id of ['mode', 'data', 'backend', 'size', 'steps', 'batch', 'lr', 'evalEvery', 'testImages', 'recipe', 'boxBatch']) {
  const v = params.get(id);
  if (v !== null) ($(id) as HTMLInputElement).value = v;
}

/** The family fieldset shows in family mode; there the data select is the teacher's, not the page's. */
function showMode(): void {
  const family = ($('mode') as HTMLSelectElement).value === 'family';
  $('familyOptions').hidden = !family;
  ($('data') as HTMLSelectElement).disabled = family;
  const url = params.get('teacher');
  if (family && !teacherFile && url) $('teacherFileInfo').textContent = `teacher from the URL: ${url} (or pick or drop another)`;
}
$('mode').onchange = showMode;
showMode();

function chooseTeacher(file: File | undefined): void {
  if (!file) return;
  teacherFile = file;
  ($('mode') as HTMLSelectElement).value = 'family';
  showMode();
  $('teacherFileInfo').textContent = `teacher: ${file.name} (${(file.size / 2 ** 20).toFixed(1)} MiB) — press Start`;
}
$('teacherFile').onchange = () => chooseTeacher(($('teacherFile') as HTMLInputElement).files?.[0]);
// A checkpoint dropped anywhere on the page becomes the family teacher.
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  chooseTeacher(e.dataTransfer?.files[0]);
});

let worker: Worker | null = null;
let classNames: string[] = [];
let images: ShownImage[] = [];
let teacherBoxes: ShownBoxes[] | null = null;
let studentBoxes: ShownBoxes[] | null = null;
let chartsDirty = false;

const status = (text: string): void => void ($('status').textContent = text);

async function start(): Promise<void> {
  worker?.terminate();
  worker = null;
  Object.assign(state, { steps: [], evals: [], studentBoxesDrawn: 0, teacherBoxesDrawn: 0, boxRedraws: 0, backendMs: NaN, readyMs: NaN, warm: null, firstStepMs: NaN, firstStepSeconds: NaN, done: false, error: '', paused: false, family: null });
  studentBoxes = null;
  teacherBoxes = null;
  $('terms').textContent = '';
  const s = await settings();
  state.mode = s.mode;
  if (s.mode === 'family' && !s.familyTeacher) {
    status('family mode: choose a teacher checkpoint first (the file input, a drop on the page, or ?teacher=<url>)');
    return;
  }
  status(s.mode === 'family'
    ? `starting: ${FAMILY_STUDENT} student from ${s.familyTeacher!.name}, ${s.size}px scenes, batch ${s.batch}, box batch ${s.boxBatch}, recipe ${s.recipe} …`
    : `starting: ${s.data}, ${s.size}px scenes, batch ${s.batch} …`);
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  worker.onerror = (e) => onMessage({ type: 'error', message: e.message || 'the worker failed to load' });
  const bytes = s.familyTeacher && 'bytes' in s.familyTeacher ? [s.familyTeacher.bytes.buffer as ArrayBuffer] : [];
  worker.postMessage({ type: 'start', settings: s } satisfies ToWorker, bytes);
  ($('pause') as HTMLButtonElement).disabled = false;
  ($('download') as HTMLButtonElement).disabled = false;
  ($('pause') as HTMLButtonElement).textContent = 'Pause';
}

const send = (m: ToWorker): void => worker?.postMessage(m);

const FAMILY_STUDENT = 'fasterrcnn_mobilenet_v3_large_320_fpn';
const millions = (n: number): string => `${(n / 1e6).toFixed(1)} M`;

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case 'backend':
      state.backend = m.name;
      state.backendNote = m.note;
      state.backendMs = performance.now() - state.loadedAt;
      state.threads = m.threads;
      state.workerCrossOriginIsolated = m.crossOriginIsolated;
      $('backendInfo').textContent = `backend: ${m.note}`;
      $('backendInfo').className = m.name === 'webgpu' ? 'ok' : 'warn';
      break;
    case 'warm':
      state.warm = { built: m.built, listed: m.listed, failed: m.failed, atMs: performance.now() - state.loadedAt };
      break;
    case 'ready':
      state.readyMs = performance.now() - state.loadedAt;
      classNames = m.classNames;
      images = m.images;
      state.family = m.family ?? null;
      if (m.family) {
        const f = m.family;
        const map = f.teacher.metrics?.map50;
        $('teacherInfo').textContent =
          `teacher: ${f.teacher.preset} from ${f.teacher.name} (${millions(f.teacher.parameters)} parameters, ${f.teacher.classes} classes, learnt ${f.teacher.trainedOn}${map !== undefined ? `, mAP@0.5 ${map.toFixed(3)}` : ''}; dashed boxes) → ` +
          `student: ${f.student.preset} (${millions(f.student.parameters)} parameters, ${millions(f.student.trainable)} trainable) on ${f.data} scenes of ${f.size} px (its min/max size), box batch ${f.boxBatch}; ` +
          `recipe ${f.recipe}: ${f.recipeDescription}. Loaded in ${m.seconds.toFixed(1)} s`;
      } else {
        $('teacherInfo').textContent = m.teacher
          ? `teacher: the shipped Fashion-MNIST teacher (dashed boxes), loaded in ${m.seconds.toFixed(1)} s`
          : 'teacher: none — the shipped teacher knows Fashion-MNIST classes only, so on shapes the student trains alone';
      }
      drawImages();
      break;
    case 'step':
      if (!state.steps.length) {
        state.firstStepMs = performance.now() - state.loadedAt;
        state.firstStepSeconds = m.seconds;
      }
      state.steps.push(m);
      status(`step ${m.step}: loss ${m.loss.toFixed(4)} (${m.seconds.toFixed(2)} s/step)${Number.isFinite(state.firstStepMs) ? ` — first step ${(state.firstStepMs / 1000).toFixed(1)} s after load` : ''}`);
      $('terms').textContent = `terms at step ${m.step}: ${Object.entries(m.parts).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`;
      chartsDirty = true;
      break;
    case 'eval':
      state.evals.push({ step: m.step, map50: m.map50 });
      studentBoxes = m.studentBoxes;
      teacherBoxes = m.teacherBoxes;
      chartsDirty = true;
      drawImages();
      break;
    case 'paused':
      status(`paused after step ${m.step}`);
      break;
    case 'done':
      state.done = true;
      status(`done: ${m.step} steps${state.evals.length ? `, mAP@0.5 ${state.evals[state.evals.length - 1]!.map50.toFixed(3)}` : ''}`);
      break;
    case 'checkpoint': {
      const url = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = state.mode === 'family' ? `student-${FAMILY_STUDENT}.safetensors` : 'student.safetensors';
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      break;
    }
    case 'error':
      state.error = m.message;
      status(`error: ${m.message}`);
      break;
  }
}

function drawCharts(): void {
  if (!chartsDirty) return;
  chartsDirty = false;
  const terms = [...new Set(state.steps.flatMap((s) => Object.keys(s.parts)))];
  const series: Series[] = [
    { name: 'total', points: state.steps.map((s) => [s.step, s.loss]), colour: '#000' },
    ...terms.map((t) => ({ name: t, points: state.steps.map((s) => [s.step, s.parts[t] ?? NaN] as [number, number]) })),
  ];
  $('lossChart').innerHTML = lineChart(series, { width: 520, height: 280, title: 'loss per term', xLabel: 'step' });
  $('mapChart').innerHTML = lineChart([{ name: 'student mAP@0.5', points: state.evals.map((e) => [e.step, e.map50]) }], {
    width: 520, height: 200, title: 'mAP@0.5 on held-out scenes', xLabel: 'step', yRange: [0, 1],
  });
}

function drawBoxes(ctx: CanvasRenderingContext2D, b: ShownBoxes, scale: number, dashed: boolean): number {
  ctx.setLineDash(dashed ? [4, 3] : []);
  ctx.lineWidth = dashed ? 1.5 : 2;
  ctx.font = '10px sans-serif';
  for (let i = 0; i < b.labels.length; i++) {
    const [x1, y1, x2, y2] = b.boxes.slice(i * 4, i * 4 + 4).map((v) => v * scale) as [number, number, number, number];
    const [r, g, bl] = classColour(b.labels[i]!);
    ctx.strokeStyle = dashed ? 'rgba(255,255,255,0.9)' : `rgb(${r},${g},${bl})`;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (!dashed) {
      ctx.fillStyle = `rgb(${r},${g},${bl})`;
      ctx.fillText(`${classNames[b.labels[i]! - 1] ?? b.labels[i]} ${b.scores[i]?.toFixed(2) ?? ''}`, x1 + 2, Math.max(10, y1 - 2));
    }
  }
  return b.labels.length;
}

function drawImages(): void {
  const holder = $('images');
  holder.replaceChildren();
  let teacherDrawn = 0;
  let studentDrawn = 0;
  images.forEach((img, k) => {
    const scale = Math.max(1, Math.floor(192 / img.width));
    const canvas = document.createElement('canvas');
    canvas.width = img.width * scale;
    canvas.height = img.height * scale;
    const small = new ImageData(img.width, img.height);
    const plane = img.width * img.height;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) small.data[p * 4 + c] = Math.round(Math.min(1, Math.max(0, img.pixels[c * plane + p]!)) * 255);
      small.data[p * 4 + 3] = 255;
    }
    const ctx = canvas.getContext('2d')!;
    const tmp = document.createElement('canvas');
    tmp.width = img.width;
    tmp.height = img.height;
    tmp.getContext('2d')!.putImageData(small, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
    if (teacherBoxes?.[k]) teacherDrawn += drawBoxes(ctx, teacherBoxes[k]!, scale, true);
    if (studentBoxes?.[k]) studentDrawn += drawBoxes(ctx, studentBoxes[k]!, scale, false);
    holder.appendChild(canvas);
  });
  state.teacherBoxesDrawn = teacherDrawn;
  state.studentBoxesDrawn = studentDrawn;
  if (studentBoxes) state.boxRedraws++;
  $('imagesInfo').textContent = studentBoxes
    ? `boxes scoring ≥ 0.3 at the evaluation after step ${state.evals[state.evals.length - 1]?.step}: the student's ${studentDrawn}, the teacher's ${teacherDrawn}` +
      (state.mode === 'family' && studentDrawn === 0 ? ' (a student from random weights finds nothing at first: give it a few hundred steps)' : '')
    : 'student and teacher boxes appear at the first evaluation';
}

// Charts are redrawn at most once per frame, however fast steps arrive.
const frame = (): void => {
  drawCharts();
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
// Headless or hidden pages may not run animation frames: a slow timer keeps the charts current.
setInterval(drawCharts, 500);

$('start').onclick = () => void start().catch((e: Error) => onMessage({ type: 'error', message: e.message }));
$('pause').onclick = () => {
  state.paused = !state.paused;
  send({ type: state.paused ? 'pause' : 'resume' });
  ($('pause') as HTMLButtonElement).textContent = state.paused ? 'Resume' : 'Pause';
};
$('download').onclick = () => send({ type: 'download' });
if (!('gpu' in navigator)) $('backendInfo').textContent = 'this browser has no WebGPU: training will use wasm';
// Autostart in a task of its own after the first frame: starting the worker inside the page's
// first task made that task one long (about 100 ms) freeze.
if (params.get('autostart') === '1') requestAnimationFrame(() => setTimeout(() => void start().catch((e: Error) => onMessage({ type: 'error', message: e.message })), 0));
