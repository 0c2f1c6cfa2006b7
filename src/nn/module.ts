import type { Tensor } from '../engine/tensor.js';
import { Parameter } from './parameter.js';

/**
 * A tree of named parameters and child modules, named like PyTorch (`features.0.weight`) so that
 * state dicts interchange with torch and safetensors files. Forward methods are ordinary typed
 * methods of each subclass; Module only knows about names, modes and lifetimes.
 */
export abstract class Module {
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  training = true;

  protected addParameter(name: string, value: Tensor, trainable = true): Parameter {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`kdet.Module: duplicate name '${name}'`);
    const p = new Parameter(value, trainable);
    this.params.set(name, p);
    return p;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`kdet.Module: duplicate name '${name}'`);
    this.children.set(name, m);
    return m;
  }

  /** Every parameter with its dotted path, in registration order (depth first). */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  trainableParameters(): Parameter[] {
    return this.parameters().filter((p) => p.trainable);
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.parameters().reduce((s, p) => s + p.value.size, 0);
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freeze or unfreeze every parameter (a frozen teacher). */
  setTrainable(on: boolean): this {
    for (const p of this.parameters()) p.trainable = on;
    return this;
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map(([n, p]) => [n, p.value]));
  }

  /**
   * Replace parameter values by name. Shapes must match; with `strict`, names must match exactly
   * in both directions. Values are taken over (not copied): the caller must not dispose them.
   */
  loadStateDict(values: Map<string, Tensor>, strict = true): void {
    const named = new Map(this.namedParameters());
    if (strict) {
      const missing = [...named.keys()].filter((k) => !values.has(k));
      const unexpected = [...values.keys()].filter((k) => !named.has(k));
      if (missing.length || unexpected.length) {
        throw new Error(`kdet.loadStateDict: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
      }
    }
    for (const [name, t] of values) {
      const p = named.get(name);
      if (!p) continue;
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`kdet.loadStateDict: '${name}' has shape [${t.shape}] but the model expects [${p.shape}]`);
      }
      p.assign(t);
    }
  }

  /** Frees this module's parameters, then each child's through its own dispose (which may hold more than parameters). */
  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const c of this.children.values()) c.dispose();
  }
}
