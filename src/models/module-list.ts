import { Module } from '../nn/module.js';

/**
 * torch.nn.ModuleList: children named 0, 1, 2, … and no forward of its own, so that a module
 * whose owner indexes its children (FPN's inner_blocks / layer_blocks) keeps torchvision's names.
 */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];

  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.addModule(String(i), m));
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`kdet.ModuleList: index ${i} out of range (length ${this.items.length})`);
    return m;
  }
}
