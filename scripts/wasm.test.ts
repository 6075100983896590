import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../framework/core/paths.js';
import { compileWat, KERNELS, wasmSource } from './wasm.js';

test.each(KERNELS.map((k) => [k.name, k] as const))(
  'the committed %s WebAssembly is its text source compiled (rerun node dist/scripts/wasm.js after editing its -wat.ts)',
  async (_, k) => {
    const committed = fs.readFileSync(path.join(packageRoot(), 'framework', 'core', k.file), 'utf8');
    expect(committed).toBe(wasmSource(k, await compileWat(k.name, k.text)));
  },
);
