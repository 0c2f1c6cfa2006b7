import type { DistillConfig } from './config.js';

/** One row of the ablation: a name, what it tests, and the distillation terms it switches on. */
export interface AblationVariant {
  name: string;
  description: string;
  /** null: the student trained alone, without a teacher. */
  distill: Partial<DistillConfig> | null;
  /** A row of the paper's ablation (the default table); the others come with --extended. */
  paper?: boolean;
}

const OFF = { soft: false, regression: 'none', hint: false } as const;

/**
 * The paper's Table 4 directions in miniature, plus the full method and fine-grained imitation:
 * weighted vs unweighted soft CE, bounded vs plain-L2 teacher regression, hints with vs without
 * the adaptation layer.
 */
export const ABLATION_VARIANTS: readonly AblationVariant[] = [
  { name: 'student', paper: true, description: 'student alone (ground truth only)', distill: null },
  { name: 'soft-unweighted', paper: true, description: 'soft CE, all classes weighted 1', distill: { ...OFF, soft: true, backgroundWeight: 1 } },
  { name: 'soft-weighted', paper: true, description: 'soft CE, background weighted 1.5', distill: { ...OFF, soft: true, backgroundWeight: 1.5 } },
  { name: 'reg-l2', paper: true, description: 'plain L2 to the teacher’s box deltas', distill: { ...OFF, regression: 'l2' } },
  { name: 'reg-bounded', paper: true, description: 'teacher-bounded regression L_b', distill: { ...OFF, regression: 'bounded' } },
  { name: 'hint-no-adapt', paper: true, description: 'hints without adaptation layer', distill: { ...OFF, hint: true, adapter: 'none' } },
  { name: 'hint-adapt', paper: true, description: 'hints with a 1×1 adaptation layer', distill: { ...OFF, hint: true, adapter: '1x1' } },
  { name: 'full', paper: true, description: 'weighted soft CE + bounded regression + adapted hints (the paper)', distill: {} },
  // The full method without its hint: seed by seed, each output term alone helped and each hint
  // hurt (results/ablation-1500/ablation.md), so this row asks whether the hint is what holds the full method back.
  { name: 'soft-bounded', description: 'weighted soft CE + bounded regression, no hint', distill: { ...OFF, soft: true, regression: 'bounded' } },
  // Wang et al.'s imitation loss sums over channels (÷ 2·N_p locations), about C = 128× the
  // per-element mean hint: at γ = 0.5 its backbone gradient is 150–380× the hard CE's
  // (results/term-scales.md). Their weight, 0.01, brings it to the mean hint's scale.
  { name: 'full-fine-grained', paper: true, description: 'full, hint only near objects (Wang et al. 2019, γ 0.01)', distill: { fineGrained: true, adapter: '3x3', gamma: 0.01 } },
  // Beyond the paper: the student's RPN and box heads start as copies of the teacher's. The
  // student's backbone ends in the teacher's 128 channels, so un-adapted hints pull its features
  // into the space those heads read. The first row is the control: the heads without any term.
  { name: 'heads-only', description: 'teacher’s heads as the student’s start, no distillation term', distill: { ...OFF, headsFromTeacher: true } },
  { name: 'full-teacher-heads', description: 'full without adapter, student heads started from the teacher’s', distill: { adapter: 'none', headsFromTeacher: true } },
  // The factors the issue names for the full method's trouble, one at a time: μ (open
  // implementations moved it towards 0.8), the hint's scale (it pulls the backbone 4× as hard as
  // the hard loss at γ = 0.5, results/term-scales.md) and a warm-up of the distillation terms.
  { name: 'full-mu0.8', description: 'full, μ 0.8 (hard labels weigh more)', distill: { mu: 0.8 } },
  { name: 'full-gamma0.05', description: 'full, hint weight γ 0.05 (a tenth)', distill: { gamma: 0.05 } },
  { name: 'full-warmup', description: 'full, distillation terms ramped in over 200 steps', distill: { warmupSteps: 200 } },
  // At lr 0.1 both teacher regressions cost 5 points alone: L2 on the coder's scaled deltas has
  // an unbounded gradient where smooth-L1's is capped, so this row asks whether it is their scale.
  { name: 'full-nu0.05', description: 'full, teacher regression weight ν 0.05 (a tenth)', distill: { nu: 0.05 } },
  // ν 0.05 recovered 6.5 points: is it L2's unbounded gradient? The same terms with a smooth-L1
  // distance (the ground truth's β) keep the paper's switch and targets and cap the gradient per
  // coordinate at 1, as the ground-truth term's is.
  { name: 'reg-teacher-sl1', description: 'plain smooth-L1 to the teacher’s box deltas', distill: { ...OFF, regression: 'l2', regressionDistance: 'smooth-l1' } },
  { name: 'reg-bounded-sl1', description: 'teacher-bounded regression, smooth-L1 distance', distill: { ...OFF, regression: 'bounded', regressionDistance: 'smooth-l1' } },
  { name: 'full-sl1', description: 'full, bounded regression with smooth-L1 distance', distill: { regressionDistance: 'smooth-l1' } },
  { name: 'soft-bounded-sl1', description: 'weighted soft CE + bounded regression (smooth-L1 distance), no hint', distill: { ...OFF, soft: true, regression: 'bounded', regressionDistance: 'smooth-l1' } },
  // Soft CE is the one term that helps at lr 0.1, and μ 0.8 (less of it) cost 1.8 points: does more of it gain more?
  { name: 'soft-mu0.2', description: 'soft CE, background weighted 1.5, μ 0.2 (the soft term weighs 0.8)', distill: { ...OFF, soft: true, mu: 0.2 } },
  // The paper's T is 1, where the teacher's posteriors are nearly one-hot on most ROIs. Hinton's
  // T > 1 shows the student the teacher's ranking of the wrong classes; the soft gradient then
  // shrinks as 1/T², which his T² factor restores.
  { name: 'soft-T2', description: 'soft CE (background 1.5), T 2, scaled by T²', distill: { ...OFF, soft: true, temperature: 2, scaleSoftByT2: true } },
  { name: 'soft-T4', description: 'soft CE (background 1.5), T 4, scaled by T²', distill: { ...OFF, soft: true, temperature: 4, scaleSoftByT2: true } },
  // T 2 with T² cost 10 points, T 4 25: is it the softening or the factor? The paper's form, T 2
  // without T², keeps the targets and drops the factor (its soft gradient is then ~1/T of T 1's).
  { name: 'soft-T2-plain', description: 'soft CE (background 1.5), T 2, no T² factor (the paper’s form)', distill: { ...OFF, soft: true, temperature: 2 } },
  // The teacher's heads as the start gained 7 points at lr 0.1 but 25 at lr 0.02 (1500 steps):
  // the fresh backbone's large early steps undo them. Here they learn at a fifth of the rate.
  { name: 'heads-lr0.2', description: 'teacher’s heads as the start, learning at 0.2× the lr; no distillation term', distill: { ...OFF, headsFromTeacher: true, headsLrScale: 0.2 } },
  { name: 'heads-lr0.05', description: 'teacher’s heads as the start, learning at 0.05× the lr; no distillation term', distill: { ...OFF, headsFromTeacher: true, headsLrScale: 0.05 } },
  { name: 'soft-heads-lr0.2', description: 'weighted soft CE, teacher’s heads as the start at 0.2× the lr', distill: { ...OFF, soft: true, headsFromTeacher: true, headsLrScale: 0.2 } },
  { name: 'soft-heads-lr0.05', description: 'weighted soft CE, teacher’s heads as the start at 0.05× the lr', distill: { ...OFF, soft: true, headsFromTeacher: true, headsLrScale: 0.05 } },
  { name: 'full-heads-lr0.2', description: 'full without adapter, teacher’s heads as the start at 0.2× the lr', distill: { adapter: 'none', headsFromTeacher: true, headsLrScale: 0.2 } },
  // The full objective on that start costs 4.3 points, and in the full method ν 0.05 won back 6.5:
  // all three of the paper's terms, with the teacher regression at a tenth.
  { name: 'full-heads-lr0.2-nu0.05', description: 'full without adapter, ν 0.05, teacher’s heads as the start at 0.2× the lr', distill: { adapter: 'none', nu: 0.05, headsFromTeacher: true, headsLrScale: 0.2 } },
  // ν 0.05 won 5.8 points there; the hint (mean L2, no adapter, γ 0.5) is what is left at full
  // weight. Soft + bounded alone says what the hint costs; γ 0.05 keeps all three terms, lighter.
  { name: 'soft-bounded-heads-lr0.2-nu0.05', description: 'weighted soft CE + bounded regression (ν 0.05), no hint, teacher’s heads as the start at 0.2× the lr', distill: { ...OFF, soft: true, regression: 'bounded', nu: 0.05, headsFromTeacher: true, headsLrScale: 0.2 } },
  { name: 'full-heads-lr0.2-nu0.05-g0.05', description: 'full without adapter, ν 0.05, γ 0.05, teacher’s heads as the start at 0.2× the lr', distill: { adapter: 'none', nu: 0.05, gamma: 0.05, headsFromTeacher: true, headsLrScale: 0.2 } },
  // FitNets' stage 1 before the paper's joint objective: 300 steps of the hint alone pull the
  // student's features into the space the copied heads read, then the three terms (ν 0.05) or
  // the ground truth alone take over. Same 1500 steps in all.
  { name: 'hint300-full-heads-lr0.2-nu0.05', description: 'hint alone for 300 steps, then full without adapter, ν 0.05; teacher’s heads as the start at 0.2× the lr', distill: { adapter: 'none', nu: 0.05, headsFromTeacher: true, headsLrScale: 0.2, hintFirstSteps: 300 } },
  { name: 'hint300-heads-lr0.2', description: 'hint alone for 300 steps, then the ground truth alone; teacher’s heads as the start at 0.2× the lr', distill: { ...OFF, adapter: 'none', headsFromTeacher: true, headsLrScale: 0.2, hintFirstSteps: 300 } },
  // At 3000 steps the full method led the student alone at step 1500 and lost once the lr dropped
  // (results/probes/full-3000); on the teacher's heads the three terms gained at 1500 steps and
  // cost at 3000. These rows keep the terms while the lr is at its peak and stop them at the first
  // drop (step 2250 of 3000: the schedule's milestones are 75 % and 92 % of the steps), so the
  // low-lr end is the ground truth alone. Meant for --steps 3000. They changed nothing (−0.1 points
  // on the heads over 3 seeds, −0.3 from a random start: results/ablation-3000-teacher-6000).
  { name: 'full-until2250', description: 'full (the paper’s defaults) for the first 2250 steps, then the ground truth alone', distill: { distillUntilStep: 2250 } },
  { name: 'full-heads-lr0.2-nu0.05-until2250', description: 'full without adapter, ν 0.05, on the teacher’s heads at 0.2× the lr, for the first 2250 steps, then the ground truth alone', distill: { adapter: 'none', nu: 0.05, headsFromTeacher: true, headsLrScale: 0.2, distillUntilStep: 2250 } },
  { name: 'soft-heads-lr0.2-until2250', description: 'weighted soft CE on the teacher’s heads at 0.2× the lr for the first 2250 steps, then the ground truth alone', distill: { ...OFF, soft: true, headsFromTeacher: true, headsLrScale: 0.2, distillUntilStep: 2250 } },
  // Later feature losses in the hint's place (src/distillation/feature-losses.ts), on the same
  // adapted student feature (1×1 adapter) and the teacher's backbone output: PKD (Cao et al.
  // 2022) imitates the per-channel standardised maps, so the teacher's feature magnitudes no
  // longer set the term's scale; CWD (Shu et al. 2021) matches each channel's spatial softmax.
  // Weights are mmrazor's for Faster R-CNN R101 → R50 with FPN (configs/distill/mmdet/pkd/
  // pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py: PKDLoss loss_weight 6; configs/distill/
  // mmdet/cwd/cwd_fpn_frcnn_r101_frcnn_r50_1x_coco.py: ChannelWiseDivergence tau 1, loss_weight
  // 10), each there per FPN level (4 and 5 levels summed); here one level, the backbone output,
  // at that per-level weight. γ is the weight; the logged term is still `hint`. Their pull at
  // unit weight on a fresh student's backbone (seed 0, 2 batches of 4, the shipped teacher;
  // gradient norm ÷ the hard CE's, as results/term-scales.md measures it): mean-L2 hint 7.9,
  // PKD 4.5, CWD 0.67; so γ 6 puts PKD at ~27× the hard CE (the paper's hint at γ 0.5: ~4×),
  // CWD at γ 10 ~7×. Not yet run.
  { name: 'full-pkd', description: 'full, the hint replaced by PKD (Pearson-correlation imitation, 1×1 adapter, γ 6)', distill: { featureLoss: 'pkd', gamma: 6 } },
  { name: 'full-cwd', description: 'full, the hint replaced by CWD (channel-wise spatial KL, τ 1, 1×1 adapter, γ 10)', distill: { featureLoss: 'cwd', cwdTau: 1, gamma: 10 } },
  { name: 'soft-heads-pkd', description: 'weighted soft CE + PKD (1×1 adapter, γ 6), teacher’s heads as the start at 0.2× the lr', distill: { ...OFF, soft: true, headsFromTeacher: true, headsLrScale: 0.2, hint: true, featureLoss: 'pkd', adapter: '1x1', gamma: 6 } },
  { name: 'soft-heads-cwd', description: 'weighted soft CE + CWD (τ 1, 1×1 adapter, γ 10), teacher’s heads as the start at 0.2× the lr', distill: { ...OFF, soft: true, headsFromTeacher: true, headsLrScale: 0.2, hint: true, featureLoss: 'cwd', cwdTau: 1, adapter: '1x1', gamma: 10 } },
];

/**
 * Named sets of rows for `kdet experiment ablation --rows <set>`. `faithful` is the paper's Table 4
 * in the setting the paper had (pre-trained students, trained to convergence; the run supplies the
 * backbone and the length): its rows, the best recipe found so far (soft CE on the teacher's heads)
 * and the two later feature losses in the hint's place.
 */
export const ABLATION_ROW_SETS: Readonly<Record<string, readonly string[]>> = {
  faithful: ['student', 'soft-unweighted', 'soft-weighted', 'reg-l2', 'reg-bounded', 'hint-no-adapt', 'hint-adapt', 'full', 'soft-heads-lr0.2', 'full-pkd', 'full-cwd'],
};

/** The pairs whose order the paper claims (better, worse). */
export const PAPER_DIRECTIONS: readonly [string, string, string][] = [
  ['soft-weighted', 'soft-unweighted', 'weighted soft CE > unweighted'],
  ['reg-bounded', 'reg-l2', 'bounded regression > plain L2 to the teacher'],
  ['hint-adapt', 'hint-no-adapt', 'hints with adaptation > without'],
  ['full', 'student', 'full distillation > student alone'],
];

export interface RunResult {
  variant: string;
  seed: number;
  map50: number;
  cocoAP: number;
  seconds: number;
  stepSeconds: number;
  /** What the run was trained and evaluated with (absent in runs written before it was recorded). */
  setup?: RunSetupRecord;
  /** The step a cut-off run resumed at (its seconds are then the resumed part's). */
  resumedAt?: number;
}

/** The settings a finished run must share with the table it is reused in. */
export interface RunSetupRecord {
  teacher: string;
  /**
   * The teacher checkpoint's content (first 16 hex digits of its SHA-256): the path alone would let
   * a retrained teacher saved over the old file reuse runs distilled from the old one.
   */
  teacherSha256?: string;
  student: string;
  steps: number;
  batch: number;
  lr: number;
  testLength: number;
  /**
   * The pre-trained backbone every student started from (first 16 hex digits of its file's
   * SHA-256) and how many of its stages were frozen; absent: random weights.
   */
  backboneSha256?: string;
  freezeStages?: number;
}

export interface VariantSummary {
  variant: string;
  description: string;
  runs: number;
  map50Mean: number;
  map50Std: number;
  cocoMean: number;
  cocoStd: number;
  stepSeconds: number;
}

function meanStd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

export function summarise(results: readonly RunResult[]): VariantSummary[] {
  return ABLATION_VARIANTS.flatMap((v) => {
    const rs = results.filter((r) => r.variant === v.name);
    if (!rs.length) return [];
    const [map50Mean, map50Std] = meanStd(rs.map((r) => r.map50));
    const [cocoMean, cocoStd] = meanStd(rs.map((r) => r.cocoAP));
    return [{ variant: v.name, description: v.description, runs: rs.length, map50Mean, map50Std, cocoMean, cocoStd, stepSeconds: meanStd(rs.map((r) => r.stepSeconds))[0] }];
  });
}

/**
 * mAP@0.5 differences a − b seed by seed, over the seeds both variants ran. A seed fixes the
 * student's initialisation and the data order for every variant, so these pairs cancel the
 * seed-to-seed spread that the unpaired means carry (on these runs, larger than most effects).
 */
export function pairedDifferences(results: readonly RunResult[], a: string, b: string): number[] {
  const bySeed = new Map(results.filter((r) => r.variant === b).map((r) => [r.seed, r.map50]));
  return results.filter((r) => r.variant === a && bySeed.has(r.seed)).sort((x, y) => x.seed - y.seed).map((r) => r.map50 - bySeed.get(r.seed)!);
}

/** The paired comparison in words: mean ± std of the per-seed differences, and how many agree. */
function pairedText(d: readonly number[]): string {
  if (d.length < 2) return '';
  const [m, sd] = meanStd([...d]);
  const agree = d.filter((x) => x > 0).length;
  const verdict = m > sd && agree === d.length ? 'reproduced' : m > 0 ? 'same direction, within the paired spread' : 'not reproduced';
  return `; paired by seed Δ ${m >= 0 ? '+' : ''}${m.toFixed(4)} ± ${sd.toFixed(4)}, ${agree} of ${d.length} seeds in the claimed direction — paired: ${verdict}`;
}

/**
 * The results table in Markdown, with the teacher for reference and the paper's directions
 * checked: on the means (against the larger seed std) and, given the runs, paired by seed.
 */
export function ablationMarkdown(summary: readonly VariantSummary[], teacher: { map50: number; cocoAP: number } | null, setup: string, results: readonly RunResult[] = []): string {
  const by = new Map(summary.map((s) => [s.variant, s]));
  const base = by.get('student');
  // Share of the teacher–student mAP@0.5 gap a variant closes (negative: it widens it), against
  // the student alone on the variant's own seeds where the runs are given and the student has
  // them all: a row of 3 seeds is not measured against a student mean of 5.
  const studentBySeed = new Map(results.filter((r) => r.variant === 'student').map((r) => [r.seed, r.map50]));
  const baseFor = (s: VariantSummary): number => {
    const seeds = results.filter((r) => r.variant === s.variant).map((r) => r.seed);
    return seeds.length && seeds.every((k) => studentBySeed.has(k)) ? meanStd(seeds.map((k) => studentBySeed.get(k)!))[0] : base!.map50Mean;
  };
  const closed = (s: VariantSummary): string => {
    if (!teacher || !base || s === base) return '';
    const b = baseFor(s);
    return teacher.map50 > b ? `${(((s.map50Mean - b) / (teacher.map50 - b)) * 100).toFixed(1)}%` : '';
  };
  const rows = summary.map((s) => `| ${s.variant} | ${s.description} | ${s.runs} | ${s.map50Mean.toFixed(4)} ± ${s.map50Std.toFixed(4)} | ${s.cocoMean.toFixed(4)} ± ${s.cocoStd.toFixed(4)} | ${closed(s)} | ${s.stepSeconds.toFixed(3)} |`);
  const dirs = PAPER_DIRECTIONS.map(([a, b, claim]) => {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) return `- ${claim}: not run`;
    const d = x.map50Mean - y.map50Mean;
    const noise = Math.max(x.map50Std, y.map50Std);
    const verdict =
      Math.min(x.runs, y.runs) < 2
        ? `one seed: ${d > 0 ? 'same direction' : 'opposite direction'}, noise unknown`
        : d > noise
          ? 'reproduced'
          : d > 0
            ? 'same direction, within seed noise'
            : 'not reproduced';
    return `- ${claim}: ${x.map50Mean.toFixed(4)} vs ${y.map50Mean.toFixed(4)} (Δ ${d >= 0 ? '+' : ''}${d.toFixed(4)}, seed std ≤ ${noise.toFixed(4)}) — ${verdict}${pairedText(pairedDifferences(results, a, b))}`;
  });
  const full = by.get('full');
  const gap = full && closed(full) ? `\nGap closed by the full method: ${closed(full)} of the teacher–student mAP@0.5 gap.\n` : '';
  return [
    setup,
    '',
    teacher ? `Teacher: mAP@0.5 ${teacher.map50.toFixed(4)}, COCO AP ${teacher.cocoAP.toFixed(4)}.` : '',
    '',
    '| variant | what | seeds | mAP@0.5 (all-point) | COCO AP@[.5:.95] | gap closed (vs the student alone on the same seeds) | s/step |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    gap,
    'The paper’s directions:',
    ...dirs,
    '',
  ].join('\n');
}

/** A bar chart of mAP@0.5 (mean ± std) per variant, as a self-contained SVG. */
export function ablationSvg(summary: readonly VariantSummary[], teacher: { map50: number } | null): string {
  const w = 720;
  const barH = 22;
  const left = 170;
  const top = 30;
  const h = top + summary.length * (barH + 8) + 30;
  const max = Math.max(teacher?.map50 ?? 0, ...summary.map((s) => s.map50Mean + s.map50Std), 1e-6) * 1.1;
  const x = (v: number) => left + ((w - left - 20) * v) / max;
  const bars = summary.map((s, i) => {
    const y = top + i * (barH + 8);
    return [
      `<text x="${left - 8}" y="${y + barH * 0.7}" text-anchor="end" font-size="12">${s.variant}</text>`,
      `<rect x="${left}" y="${y}" width="${x(s.map50Mean) - left}" height="${barH}" fill="${s.variant === 'student' ? '#999' : '#3b7dd8'}"/>`,
      `<line x1="${x(s.map50Mean - s.map50Std)}" x2="${x(s.map50Mean + s.map50Std)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#000"/>`,
      `<text x="${x(s.map50Mean + s.map50Std) + 4}" y="${y + barH * 0.7}" font-size="11">${s.map50Mean.toFixed(3)}</text>`,
    ].join('');
  });
  const t = teacher ? `<line x1="${x(teacher.map50)}" x2="${x(teacher.map50)}" y1="${top - 8}" y2="${h - 24}" stroke="#d33" stroke-dasharray="4 3"/><text x="${x(teacher.map50)}" y="${top - 12}" font-size="11" text-anchor="middle" fill="#d33">teacher ${teacher.map50.toFixed(3)}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${bars.join('')}${t}<text x="${left}" y="${h - 8}" font-size="11">held-out mAP@0.5 (mean ± std over seeds)</text></svg>\n`;
}
