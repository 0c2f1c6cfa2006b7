import { flatten, type Tensor } from '../../src/engine/index.js';
import type { Rng } from '../../src/engine/random.js';
import { Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential } from '../../src/nn/index.js';

/** The small conv net of the training tests: two conv + pool stages on side×side inputs, 3 classes. */
export class SmallNet extends Module {
  readonly features: Sequential;
  readonly head: Linear;
  constructor(rng: Rng, side = 16) {
    super();
    this.features = this.addModule('features', new Sequential([new Conv2d(3, 8, 3, rng, { padding: 1 }), ReLU(), MaxPool2d(2), new Conv2d(8, 8, 3, rng, { padding: 1 }), ReLU(), MaxPool2d(2)]));
    this.head = this.addModule('head', new Linear(8 * (side / 4) ** 2, 3, rng));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(flatten(this.features.forward(x), 1));
  }
}
