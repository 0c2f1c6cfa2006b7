/**
 * Why a distillation step costs about twice a student step: the floating-point work of one batch
 * of the student's training step (forward and backward) against the frozen teacher's forward
 * (backbone, RPN head, box head on the student's sampled ROIs), counted by the models' own layers.
 * Multiply-adds count as 2 FLOPs; a backward pass costs two forwards per layer (input and weight
 * gradients) except for the first convolution, whose input needs no gradient. ROI align,
 * pooling, ReLU and the losses are left out (under 2 % of either side).
 *
 *   node scripts/run.mjs scripts/step-flops.ts [--batch 4] [--size 128] > results/distill-step/flops.md
 */
import { modelConfig } from '../src/cli/presets.js';
import { FasterRCNN } from '../src/detection/faster-rcnn.js';
import { Conv2d } from '../src/nn/layers.js';
import { Rng } from '../src/engine/random.js';
import { setBackend } from '../src/engine/state.js';
import { createReferenceBackend } from '../src/backends/reference/index.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const batch = arg('batch', 4);
const size = arg('size', 128);

interface Parts {
  backbone: number;
  firstConv: number;
  rpnHead: number;
  boxHead: number;
}

/** Forward FLOPs of one batch, by part, counted by the model's own layers (Conv2d.flops, Linear.flops). */
function forward(preset: string): Parts {
  const cfg = modelConfig(preset, 10);
  const model = new FasterRCNN(cfg, new Rng(0));
  try {
    const first = model.backbone.layers.find((l): l is Conv2d => l instanceof Conv2d);
    if (!first) throw new Error(`step-flops: the ${preset} backbone has no convolution`);
    const [h, w] = model.backbone.outputSize(size, size);
    const head = model.rpnHead;
    const rpnHead = head.conv.flops(h, w).flops + head.clsLogits.flops(h, w).flops + head.bboxPred.flops(h, w).flops;
    const rois = cfg.roiHeads.sampler.batchSizePerImage;
    const { boxHead: mlp, predictor } = model.boxHead;
    const boxHead = [mlp.fc6, mlp.fc7, predictor.clsScore, predictor.bboxPred].reduce((f, l) => f + l.flops(rois), 0);
    const backbone = model.backbone.flops(size, size);
    return { backbone: batch * backbone, firstConv: batch * first.flops(size, size).flops, rpnHead: batch * rpnHead, boxHead: batch * boxHead };
  } finally {
    model.dispose();
  }
}

// The models are built only to read their layers' shapes; the reference backend holds the weights.
setBackend(createReferenceBackend());
const student = forward('student');
const teacher = forward('teacher');
const g = (x: number) => (x / 1e9).toFixed(2);
const studentStep = 3 * (student.backbone + student.rpnHead + student.boxHead) - student.firstConv;
const teacherFwd = teacher.backbone + teacher.rpnHead + teacher.boxHead;
console.log(`FLOPs of one batch of ${batch} scenes of ${size}² (GFLOPs; \`node scripts/run.mjs scripts/step-flops.ts\`)\n`);
console.log('| part | student forward | student step (fwd + bwd) | teacher forward |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| backbone | ${g(student.backbone)} | ${g(3 * student.backbone - student.firstConv)} | ${g(teacher.backbone)} |`);
console.log(`| RPN head | ${g(student.rpnHead)} | ${g(3 * student.rpnHead)} | ${g(teacher.rpnHead)} |`);
console.log(`| box head (${modelConfig('student', 10).roiHeads.sampler.batchSizePerImage} ROIs per image) | ${g(student.boxHead)} | ${g(3 * student.boxHead)} | ${g(teacher.boxHead)} |`);
console.log(`| **total** | ${g(student.backbone + student.rpnHead + student.boxHead)} | **${g(studentStep)}** | **${g(teacherFwd)}** |`);
console.log(`\nA distillation step does the student's step and the teacher's forward: ${((studentStep + teacherFwd) / studentStep).toFixed(2)}× the student step's work when the teacher is computed, ${((studentStep + teacher.rpnHead + teacher.boxHead) / studentStep).toFixed(2)}× when its backbone features come from a cache.`);
