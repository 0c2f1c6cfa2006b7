/**
 * Why a distillation step costs about twice a student step: the floating-point work of one batch
 * of the student's training step (forward and backward) against the frozen teacher's forward
 * (backbone, RPN head, box head on the student's sampled ROIs), counted from the model configs.
 * Multiply-adds count as 2 FLOPs; a backward pass costs two forwards per layer (input and weight
 * gradients) except for the first convolution, whose input needs no gradient. ROI align,
 * pooling, ReLU and the losses are left out (under 2 % of either side).
 *
 *   node scripts/run.mjs scripts/step-flops.ts [--batch 4] [--size 128] > results/distill-step/flops.md
 */
import { BACKBONE_PRESETS, type BackboneConfig } from '../src/detection/backbone.js';
import { modelConfig } from '../src/cli/presets.js';
import type { FasterRCNNConfig } from '../src/detection/config.js';

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

/** Forward FLOPs of one batch, by part. */
function forward(cfg: FasterRCNNConfig, bb: BackboneConfig): Parts {
  let h = size;
  let c = bb.inChannels;
  let backbone = 0;
  let firstConv = 0;
  bb.stages.forEach((stage, s) => {
    if (s > 0) h = Math.floor(h / 2);
    for (const out of stage) {
      const f = 2 * c * out * 9 * h * h;
      if (backbone === 0) firstConv = f;
      backbone += f;
      c = out;
    }
  });
  const a = cfg.anchors.sizes.length * cfg.anchors.aspectRatios.length;
  const rpnHead = 2 * h * h * (c * c * 9 + c * a * 2 + c * a * 4);
  const rois = cfg.roiHeads.sampler.batchSizePerImage;
  const p = cfg.roiHeads.poolSize;
  const r = cfg.roiHeads.representationSize;
  const k = cfg.numClasses + 1;
  const boxHead = 2 * rois * (c * p * p * r + r * r + r * k + r * k * 4);
  return { backbone: batch * backbone, firstConv: batch * firstConv, rpnHead: batch * rpnHead, boxHead: batch * boxHead };
}

const student = forward(modelConfig('student', 10), BACKBONE_PRESETS.student);
const teacher = forward(modelConfig('teacher', 10), BACKBONE_PRESETS.teacher);
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
