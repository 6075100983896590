import { ZoError } from '../core/errors.js';
import { foAdam, foSgd } from './first-order.js';
import { hizoo } from './hizoo.js';
import { lozo, lozoM } from './lozo.js';
import { mezo } from './mezo.js';
import type { Optimizer } from './optimizer.js';
import { zoAdam } from './zo-adam.js';
import { zoSgdConservative } from './zo-sgd-conservative.js';
import { zoSgdMomentum } from './zo-sgd-momentum.js';
import { zoSgdSign } from './zo-sgd-sign.js';

/** Every optimizer, in one explicit list: nothing else in zo branches on an optimizer's name. */
export const OPTIMIZERS: readonly Optimizer[] = [
  mezo,
  zoSgdMomentum,
  zoSgdSign,
  zoSgdConservative,
  zoAdam,
  hizoo,
  lozo,
  lozoM,
  foSgd,
  foAdam,
];

export function optimizerNamed(name: string): Optimizer {
  const o = OPTIMIZERS.find((x) => x.name === name);
  if (!o) throw new ZoError(`unknown optimizer "${name}" (known: ${OPTIMIZERS.map((x) => x.name).join(', ')})`);
  return o;
}

/** Parses hyperparameters against an optimizer's schema; the first problem is one line naming the field. */
export function parseHyperparameters<H extends { lr: number }>(o: Optimizer<H>, raw: Record<string, unknown>): H {
  const r = o.hyperparameters.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(', ') || '(hyperparameters)';
    throw new ZoError(`${o.name}: hyperparameter ${field}: ${issue.message}`);
  }
  return r.data;
}
