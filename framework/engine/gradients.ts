import type { Perturbation } from '../core/perturbation.js';
import type { Batch } from './batch.js';
import type { Model } from './executor.js';
import type { TfjsExecutor } from './tfjs.js';

/**
 * ∂L/∂θ through tfjs autodiff for first-order optimizers, with tfjs loaded on first use: a ZO run
 * never pays for it. θ is re-read before every gradient, since updates write its arrays in place.
 */
export class LazyGradients {
  private tf?: TfjsExecutor;

  constructor(private readonly model: Model) {}

  async lossAndGrads(batch: Batch, perturbation?: Perturbation): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    if (!this.tf) {
      const { TfjsExecutor } = await import('./tfjs.js');
      this.tf = await TfjsExecutor.create(this.model);
    }
    this.tf.refresh();
    return this.tf.lossAndGrads(batch, perturbation);
  }

  async dispose(): Promise<void> {
    await this.tf?.dispose();
  }
}
