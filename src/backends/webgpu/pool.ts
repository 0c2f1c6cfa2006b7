/** Bytes of the one class that every buffer up to it falls into (see sizeClass). */
export const SMALL_CLASS = 4096;

/**
 * GPU buffers recycled by size class. Everything up to 4 KiB is one class; above, classes are
 * quarter steps between powers of two (at most 25% slack), so a freed tensor's buffer fits the
 * next tensor of about its size.
 *
 * Why one small class: a detector's step has small tensors whose sizes follow the data (the
 * positive anchors and ROIs sampled, the proposals NMS keeps, the ground-truth boxes). With a
 * class per power of two they moved between classes from step to step, so now and then a class
 * needed more buffers at once than any earlier step had freed, and new ones were created long
 * after warm-up (a student step at 128², batch 2: 18, 15 and 14 at steps 3, 6 and 8). In one
 * class their number at once is the step's structure, not the data: none after the second step.
 * It costs at most 4 KiB per small tensor (0.3 MB more pooled in that run).
 *
 * Reuse has one hazard: `queue.writeBuffer` (uploads) runs before commands that are recorded
 * but not yet submitted. A buffer freed since the last submit may still be read by such a
 * command, so it may back a kernel's output (ordered after, in the same encoder) but not an
 * upload until the batch is submitted (`submitted()`).
 */
export function sizeClass(bytes: number): number {
  if (bytes <= SMALL_CLASS) return SMALL_CLASS;
  const step = 2 ** Math.floor(Math.log2(bytes - 1)) / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  /** Free buffers that no unsubmitted command uses. */
  private readonly ready = new Map<number, GPUBuffer[]>();
  /** Freed since the last submit. */
  private readonly recent = new Map<number, GPUBuffer[]>();
  private readonly retired: GPUBuffer[] = [];
  private pooled = 0;

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.pooled;
  }

  /** A pooled buffer of this class, or null. `forUpload` skips buffers freed since the last submit. */
  take(cls: number, forUpload: boolean): GPUBuffer | null {
    const b = (forUpload ? null : this.recent.get(cls)?.pop()) ?? this.ready.get(cls)?.pop() ?? null;
    if (b) this.pooled -= cls;
    return b;
  }

  give(cls: number, buffer: GPUBuffer): void {
    if (this.pooled + cls > this.limitBytes) {
      // Over budget: destroy it, but only after the pending batch (which may use it) is submitted.
      this.retired.push(buffer);
      return;
    }
    let list = this.recent.get(cls);
    if (!list) this.recent.set(cls, (list = []));
    list.push(buffer);
    this.pooled += cls;
  }

  /** The pending batch was submitted: recent buffers become safe for uploads. */
  submitted(): void {
    for (const [cls, list] of this.recent) {
      let r = this.ready.get(cls);
      if (!r) this.ready.set(cls, (r = []));
      r.push(...list);
    }
    this.recent.clear();
    for (const b of this.retired) b.destroy();
    this.retired.length = 0;
  }

  /** Destroy every pooled buffer (pending ones too: used by dispose, which drops the batch). */
  destroyAll(): void {
    for (const m of [this.ready, this.recent]) {
      for (const list of m.values()) for (const b of list) b.destroy();
      m.clear();
    }
    for (const b of this.retired) b.destroy();
    this.retired.length = 0;
    this.pooled = 0;
  }
}
