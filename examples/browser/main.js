// kdet in a web page: load a detector checkpoint, run it on an image, draw its boxes on a canvas.
// Plain ES modules, no bundler: "kdet/…" resolves through the import map in index.html to the
// package's published entry points in dist/. The same steps as `kdet detect` (src/cli/commands/
// detect.ts), with the browser decoding and resizing the image.

const TEACHER_URL = '../../models/teacher.safetensors';
const STUDENT_URL = '../../models/student.safetensors';
const SAMPLE_URL = './sample.png';
/** The canvas shows small images enlarged (whole-pixel zoom) and large ones shrunk to this side. */
const DISPLAY_SIDE = 512;
/** Candidates drawn (dashed) when no detection reaches the threshold. */
const BEST_BELOW_THRESHOLD = 3;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** The page's state, for people poking at it in the console and for tests. */
const state = {
  ready: false, // the first detection is on screen
  busy: false,
  runs: 0, // detections run so far
  backend: '', // 'wasm' or 'webgpu': what is actually in use
  backendNote: '',
  model: null, // { name, preset, size, classNames, parameters }
  image: null, // { name, width, height }
  threshold: Number($('threshold').value),
  detections: [], // shown: score ≥ threshold, best first: { label, className, score, box: [x1, y1, x2, y2] (image px), colour }
  allDetections: [], // everything the model returned (its own floor is the checkpoint's roiHeads.scoreThreshold)
  display: null, // { scale, width, height }: canvas px = image px × scale
  letterbox: null, // { size, scale, offsetX, offsetY }: model input px = image px × scale + offset
  timing: {}, // { backendMs, modelMs, decodeMs, preprocessMs, detectMs }
  error: '',
};
globalThis.kdetExample = state;

let kdet = null; // the package's modules, once loaded
let model = null; // the FasterRCNN in use
let modelBytes = null; // its checkpoint, kept to rebuild the model on another backend
let backendObj = null;
let picture = null; // { bitmap, name }

// ---------------------------------------------------------------------------------------------
// Loading the package, a backend, a checkpoint

async function loadKdet() {
  try {
    const [core, nn, detection, data, wasm] = await Promise.all([import('kdet'), import('kdet/nn'), import('kdet/detection'), import('kdet/data'), import('kdet/wasm')]);
    return { core, nn, detection, data, wasm };
  } catch (e) {
    throw new Error(`Could not load the kdet package from ../../dist/ (${e.message}). Build it first (npm run build) and serve the repository's root folder.`);
  }
}

/** Installs the backend asked for; WebGPU falls back to wasm, saying why. */
async function useBackend(name) {
  const t0 = performance.now();
  let backend;
  let note;
  if (name === 'webgpu') {
    try {
      const { createWebGPUBackend } = await import('kdet/webgpu');
      backend = await createWebGPUBackend();
      note = `WebGPU: ${backend.description}`;
    } catch (e) {
      backend = await kdet.wasm.createWasmBackend();
      note = `WebGPU is not available here (${e.message.replace(/^kdet\.\w+: /, '')}), so the wasm backend runs instead`;
    }
  } else {
    backend = await kdet.wasm.createWasmBackend();
  }
  if (backend.name === 'wasm') note = `${note ? `${note}. ` : ''}wasm SIMD, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}`;
  // Parameters live on a backend: the model moves with it (rebuilt from the checkpoint below).
  model?.dispose();
  model = null;
  backendObj?.dispose();
  backendObj = backend;
  kdet.core.setBackend(backend);
  state.backend = backend.name;
  state.backendNote = note;
  $('backend').value = backend.name;
  state.timing.backendMs = performance.now() - t0;
}

async function fetchBytes(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`Could not fetch ${what} ${url}: ${e.message}`);
  }
  if (!res.ok) throw new Error(`Could not fetch ${what} ${url}: HTTP ${res.status}${url === TEACHER_URL ? ' (serve the repository root, so that models/ is reachable)' : ''}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Builds the detector a checkpoint describes and loads its weights (as kdet detect does). */
async function loadModel(bytes, name) {
  const t0 = performance.now();
  const { nn, detection, core } = kdet;
  let meta;
  try {
    meta = nn.readCheckpointMetadata(bytes, name);
  } catch (e) {
    throw new Error(`${name} is not a kdet checkpoint: ${e.message}`);
  }
  if (meta.kind !== 'detector' || !meta.model) throw new Error(`${name} is not a detector checkpoint (kind ${JSON.stringify(meta.kind)}); use a .safetensors written by kdet train or kdet distill`);
  const next = new detection.FasterRCNN(meta.model, new core.Rng(0));
  try {
    nn.loadCheckpoint(bytes, next, undefined, name);
  } catch (e) {
    next.dispose();
    throw e;
  }
  next.eval();
  model?.dispose();
  model = next;
  modelBytes = { bytes, name };
  const parameters = next.parameterCount();
  state.model = { name, preset: meta.preset ?? '', size: meta.data.size, classNames: meta.classNames, parameters, map50: meta.metrics?.map50 };
  state.timing.modelMs = performance.now() - t0;
  $('modelInfo').textContent =
    `Model: ${name} (${meta.preset ?? 'detector'}, ${(parameters / 1e6).toFixed(2)} M parameters, ${meta.data.size} × ${meta.data.size} px input, ` +
    `${meta.classNames.length} classes${meta.metrics ? `, mAP@0.5 ${(100 * meta.metrics.map50).toFixed(1)} % on its test scenes` : ''}).`;
}

// ---------------------------------------------------------------------------------------------
// Images: decode, letterbox, detect, draw

async function loadImage(blob, name) {
  const t0 = performance.now();
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    throw new Error(`${name}: the browser cannot decode this as an image`);
  }
  picture?.bitmap.close();
  picture = { bitmap, name };
  state.image = { name, width: bitmap.width, height: bitmap.height };
  state.timing.decodeMs = performance.now() - t0;
}

/**
 * The image as the model's input: scaled so that its longer side is `size`, centred on black
 * padding, RGB in [0, 1], channels first. Returns the mapping back to the image's pixels too.
 */
function letterbox(bitmap, size) {
  const scale = size / Math.max(bitmap.width, bitmap.height);
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const offsetX = Math.floor((size - w) / 2);
  const offsetY = Math.floor((size - h) / 2);
  const canvas = new OffscreenCanvas(size, size);
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.fillStyle = '#000';
  g.fillRect(0, 0, size, size);
  g.imageSmoothingQuality = 'high';
  g.drawImage(bitmap, offsetX, offsetY, w, h);
  const rgba = g.getImageData(0, 0, size, size).data;
  const hw = size * size;
  const chw = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    chw[p] = rgba[4 * p] / 255;
    chw[hw + p] = rgba[4 * p + 1] / 255;
    chw[2 * hw + p] = rgba[4 * p + 2] / 255;
  }
  return { chw, size, scaleX: w / bitmap.width, scaleY: h / bitmap.height, offsetX, offsetY };
}

async function detect() {
  const { core, data } = kdet;
  const { bitmap } = picture;
  const size = state.model.size;
  const t0 = performance.now();
  const lb = letterbox(bitmap, size);
  const t1 = performance.now();
  const input = core.tensor(lb.chw, [1, 3, size, size]);
  let det;
  try {
    [det] = await model.detect(input);
  } finally {
    input.dispose();
  }
  const t2 = performance.now();
  const { width: W, height: H } = bitmap;
  const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
  const all = [];
  for (let i = 0; i < det.scores.length; i++) {
    const b = det.boxes.subarray(4 * i, 4 * i + 4);
    const label = det.labels[i];
    all.push({
      label,
      className: state.model.classNames[label - 1] ?? `class ${label}`,
      score: det.scores[i],
      box: [clamp((b[0] - lb.offsetX) / lb.scaleX, W), clamp((b[1] - lb.offsetY) / lb.scaleY, H), clamp((b[2] - lb.offsetX) / lb.scaleX, W), clamp((b[3] - lb.offsetY) / lb.scaleY, H)],
      colour: data.classColour(label),
    });
  }
  all.sort((a, b) => b.score - a.score);
  state.allDetections = all;
  state.letterbox = { size, scale: lb.scaleX, offsetX: lb.offsetX, offsetY: lb.offsetY };
  state.timing.preprocessMs = t1 - t0;
  state.timing.detectMs = t2 - t1;
  state.runs++;
  state.ready = true;
  show();
}

/** Draws the image and the detections at or above the threshold; fills the table. */
function show() {
  if (!picture) return;
  const { bitmap } = picture;
  const canvas = $('canvas');
  const side = Math.max(bitmap.width, bitmap.height);
  const scale = side < DISPLAY_SIDE ? Math.floor(DISPLAY_SIDE / side) : DISPLAY_SIDE / side;
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.imageSmoothingEnabled = !Number.isInteger(scale); // whole-pixel zoom stays crisp
  g.imageSmoothingQuality = 'high';
  g.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  state.display = { scale, width: canvas.width, height: canvas.height };

  const passing = state.allDetections.filter((d) => d.score >= state.threshold);
  state.detections = passing;
  // When nothing passes the threshold (a photo far from the training data, say), the best few
  // candidates are still drawn, dashed and marked, so the page shows what the model saw.
  const belowThreshold = passing.length === 0;
  const shown = belowThreshold ? state.allDetections.slice(0, BEST_BELOW_THRESHOLD) : passing;
  const line = Math.max(2, Math.round(canvas.width / 256));
  g.font = `bold ${Math.max(12, Math.round(canvas.width / 40))}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  // Lowest score first, so that the best boxes and labels end up on top.
  for (const d of [...shown].reverse()) {
    const [x1, y1, x2, y2] = d.box.map((v) => Math.round(v * scale));
    const colour = `rgb(${d.colour.join(',')})`;
    g.fillStyle = colour;
    // Edges as filled rectangles: whole pixels, no anti-aliasing, exactly the class colour;
    // dashes for candidates below the threshold.
    const dash = belowThreshold ? 4 * line : Infinity;
    for (let x = x1; x < x2; x += 2 * dash) {
      const w = Math.min(dash, x2 - x);
      g.fillRect(x, y1, w, line);
      g.fillRect(x, y2 - line, w, line);
    }
    for (let y = y1; y < y2; y += 2 * dash) {
      const h = Math.min(dash, y2 - y);
      g.fillRect(x1, y, line, h);
      g.fillRect(x2 - line, y, line, h);
    }
    const text = `${d.className} ${d.score.toFixed(2)}`;
    const tw = Math.ceil(g.measureText(text).width) + 6;
    const th = parseInt(g.font.match(/(\d+)px/)[1], 10) + 4;
    const ty = y1 - th >= 0 ? y1 - th : y1 + line; // above the box where there is room
    const tx = Math.min(x1, canvas.width - tw);
    g.fillRect(tx, ty, tw, th);
    g.fillStyle = d.colour[0] * 0.3 + d.colour[1] * 0.59 + d.colour[2] * 0.11 > 150 ? '#000' : '#fff';
    g.fillText(text, tx + 3, ty + 2);
  }
  canvas.dataset.boxes = String(shown.length);

  const body = $('detections').tBodies[0];
  body.replaceChildren(
    ...shown.map((d) => {
      const tr = document.createElement('tr');
      tr.dataset.class = d.className;
      tr.dataset.score = d.score.toFixed(4);
      if (belowThreshold) tr.className = 'below';
      const swatch = `<span class="swatch" style="background: rgb(${d.colour.join(',')})"></span>`;
      tr.innerHTML = `<td>${swatch}${escapeHtml(d.className)}</td><td>${d.score.toFixed(3)}</td><td>${d.box.map((v) => v.toFixed(1)).join(', ')}</td>`;
      return tr;
    }),
  );
  $('detections').dataset.count = String(passing.length);
  const best = state.allDetections[0];
  $('status').textContent = passing.length
    ? `${passing.length} detection${passing.length === 1 ? '' : 's'} scoring ≥ ${state.threshold.toFixed(2)} in ${picture.name} (${bitmap.width} × ${bitmap.height} px).`
    : `No detection scores ≥ ${state.threshold.toFixed(2)} in ${picture.name}` +
      (best ? `; the best ${shown.length} candidate${shown.length === 1 ? ' is' : 's are'} drawn dashed (top: ${best.className} at ${best.score.toFixed(2)}). The shipped models know Fashion-MNIST items on plain backgrounds only.` : ' (the model proposed nothing).');
  const t = state.timing;
  $('timing').textContent =
    `Detection ${t.detectMs.toFixed(0)} ms on ${state.backendNote} (+ ${t.preprocessMs.toFixed(0)} ms to letterbox the image to ${state.model.size} px). ` +
    `Model loaded in ${t.modelMs.toFixed(0)} ms.`;
  document.body.dataset.detections = String(passing.length);
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------------------------
// One thing at a time: every user action queues a task; errors are shown, not thrown.

let queue = Promise.resolve();
function task(what, fn) {
  queue = queue.then(async () => {
    state.busy = true;
    document.body.dataset.state = 'busy';
    $('status').textContent = `${what}…`;
    try {
      await fn();
      state.error = '';
      $('error').textContent = '';
    } catch (e) {
      state.error = e?.message ?? String(e);
      $('error').textContent = state.error;
      $('status').textContent = '';
    } finally {
      state.busy = false;
      document.body.dataset.state = state.error ? 'error' : state.ready ? 'ready' : 'loading';
    }
  });
  return queue;
}

const rerun = async () => {
  if (model && picture) await detect();
};

async function imageFromFile(file) {
  await loadImage(file, file.name);
  await rerun();
}
async function modelFromFile(file) {
  await loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
  await rerun();
}

function wire() {
  $('image').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) task(`Detecting in ${file.name}`, () => imageFromFile(file));
  });
  $('model').addEventListener('change', (e) => {
    const file = e.target.files?.[0];
    if (file) task(`Loading ${file.name}`, () => modelFromFile(file));
  });
  $('sample').addEventListener('click', () =>
    task('Detecting in the sample scene', async () => {
      await loadImage(new Blob([await fetchBytes(SAMPLE_URL, 'the sample image')]), 'sample.png');
      await rerun();
    }),
  );
  $('teacher').addEventListener('click', () =>
    task('Loading the shipped teacher', async () => {
      await loadModel(await fetchBytes(TEACHER_URL, 'the teacher'), 'teacher.safetensors');
      await rerun();
    }),
  );
  $('student').addEventListener('click', () =>
    task('Loading the shipped student', async () => {
      await loadModel(await fetchBytes(STUDENT_URL, 'the student'), 'student.safetensors');
      await rerun();
    }),
  );
  $('backend').addEventListener('change', (e) =>
    task(`Starting ${e.target.value}`, async () => {
      await useBackend(e.target.value);
      if (modelBytes) await loadModel(modelBytes.bytes, modelBytes.name);
      await rerun();
    }),
  );
  $('threshold').addEventListener('input', (e) => {
    state.threshold = Number(e.target.value);
    $('thresholdValue').textContent = state.threshold.toFixed(2);
    show();
  });
  // Drag and drop anywhere on the page: an image is detected in, a .safetensors is loaded as the model.
  const stage = $('stage');
  let depth = 0;
  document.addEventListener('dragenter', (e) => {
    e.preventDefault();
    if (++depth === 1) stage.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => {
    if (--depth === 0) stage.classList.remove('dragging');
  });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    stage.classList.remove('dragging');
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    if (/\.safetensors$/i.test(file.name)) task(`Loading ${file.name}`, () => modelFromFile(file));
    else task(`Detecting in ${file.name}`, () => imageFromFile(file));
  });
}

// ---------------------------------------------------------------------------------------------
// Start: the package, a backend, the teacher (or ?model=), the sample (or ?image=), one detection.

wire();
const threshold = Number(params.get('threshold'));
if (params.has('threshold') && threshold >= 0 && threshold <= 1) {
  $('threshold').value = String(threshold);
  state.threshold = threshold;
  $('thresholdValue').textContent = threshold.toFixed(2);
}
task('Loading kdet', async () => {
  kdet = await loadKdet();
  $('status').textContent = 'Starting the backend…';
  await useBackend(params.get('backend') === 'webgpu' ? 'webgpu' : 'wasm');
  const modelUrl = params.get('model') ?? TEACHER_URL;
  $('status').textContent = `Loading ${modelUrl}…`;
  await loadModel(await fetchBytes(modelUrl, 'the model'), modelUrl === TEACHER_URL ? 'teacher.safetensors' : decodeURIComponent(modelUrl.split('/').pop() || modelUrl));
  const imageUrl = params.get('image') ?? SAMPLE_URL;
  await loadImage(new Blob([await fetchBytes(imageUrl, 'the image')]), imageUrl === SAMPLE_URL ? 'sample.png' : decodeURIComponent(imageUrl.split('/').pop() || imageUrl));
  await detect();
});
