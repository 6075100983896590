import path from 'node:path';
import { packageRoot } from '../core/paths.js';

/** The committed random-init test models, one per family (made by scripts/make-fixtures.ts). */
export const FIXTURE_NAMES = ['llama', 'qwen2', 'opt', 'gpt2'] as const;

export function fixturesDir(): string {
  return path.join(packageRoot(), 'fixtures');
}

export function fixtureDir(name: (typeof FIXTURE_NAMES)[number]): string {
  return path.join(fixturesDir(), name);
}
