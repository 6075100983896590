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

/** Optimizers registered from outside zo (a script's own, or a `--plugin` module), after the built-ins. */
const registered: Optimizer[] = [];

/** The built-in optimizers, then the registered ones. */
export function allOptimizers(): readonly Optimizer[] {
  return [...OPTIMIZERS, ...registered];
}

export function optimizerNamed(name: string): Optimizer {
  const o = allOptimizers().find((x) => x.name === name);
  if (!o)
    throw new ZoError(
      `unknown optimizer "${name}" (known: ${allOptimizers()
        .map((x) => x.name)
        .join(', ')}; or register your own with --plugin FILE)`,
    );
  return o;
}

/**
 * Adds an optimizer written outside zo, after checking it satisfies the contract (an object from a
 * plain-JS file has no compiler to do that). Registering the same object twice is a no-op; another
 * optimizer under a taken name is refused.
 */
export function registerOptimizer(o: unknown, where = 'registerOptimizer'): Optimizer {
  const opt = checkOptimizer(o, where);
  const taken = allOptimizers().find((x) => x.name === opt.name);
  if (taken === opt) return opt;
  if (taken) throw new ZoError(`${where}: an optimizer named "${opt.name}" already exists; choose another name`);
  registered.push(opt);
  return opt;
}

/** The first way `o` fails the Optimizer contract, as one line naming the field. */
function checkOptimizer(o: unknown, where: string): Optimizer {
  const bad = (what: string) => new ZoError(`${where}: not an optimizer: ${what}`);
  if (typeof o !== 'object' || o === null) throw bad(`expected an object, got ${o === null ? 'null' : typeof o}`);
  const x = o as Record<string, unknown>;
  if (typeof x.name !== 'string' || !/^[\w.-]+$/.test(x.name)) throw bad('name must be a string of letters, digits, ".", "_" or "-"');
  if (typeof x.summary !== 'string') throw bad(`"${x.name}": summary must be a one-line string`);
  const schema = x.hyperparameters as { safeParse?: unknown } | undefined;
  if (typeof schema?.safeParse !== 'function')
    throw bad(`"${x.name}": hyperparameters must be a zod schema (import { z } from 'zo-finetune')`);
  for (const f of ['init', 'step', 'memoryFactor', 'forwardPasses'] as const)
    if (typeof x[f] !== 'function') throw bad(`"${x.name}": ${f} must be a function`);
  // A truthy non-boolean scalarProbes would route a run's evaluation through a graph its probes never use.
  for (const f of ['firstOrder', 'scalarProbes'] as const)
    if (x[f] !== undefined && typeof x[f] !== 'boolean') throw bad(`"${x.name}": ${f} must be true or false, got ${JSON.stringify(x[f])}`);
  const opt = o as Optimizer;
  // The schema must give every default, and an lr: the harness schedules it.
  const defaults = parseHyperparameters(opt, {});
  if (typeof defaults.lr !== 'number') throw bad(`"${x.name}": its hyperparameters must include a numeric lr with a default`);
  return opt;
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
