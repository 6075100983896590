import { registerOptimizer } from '../optimizers/registry.js';
import { zoFtOptimizer } from './zo-ft.js';

/** The learned optimizers zo ships, registered beside the built-ins (idempotent). */
export function registerLearnedOptimizers(): void {
  registerOptimizer(zoFtOptimizer);
}
