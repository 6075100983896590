import fs from 'node:fs';
import path from 'node:path';
import { ZoError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';

/** The tiny base models pretrained here and shipped in the package (models/, each with its card). */
export const ZOO = ['tiny-llama-s', 'tiny-llama-m', 'tiny-qwen2', 'tiny-opt'] as const;
export type ZooModel = (typeof ZOO)[number];

/** The folder of a zoo model, to pass to loadModel or a run wherever zo is installed. */
export function zooModelDir(name: ZooModel | string): string {
  const dir = path.join(packageRoot(), 'models', name);
  if (!(ZOO as readonly string[]).includes(name) || !fs.existsSync(dir)) throw new ZoError(`no zoo model "${name}" (the zoo: ${ZOO.join(', ')})`);
  return dir;
}
