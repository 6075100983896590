import { ZIGGURAT_WASM } from '../framework/core/ziggurat-wasm.js';
import { compileZiggurat } from './ziggurat-wasm.js';

test('the committed WebAssembly is its text source compiled (rerun node dist/scripts/ziggurat-wasm.js after editing ziggurat-wat.ts)', async () => {
  expect(await compileZiggurat()).toBe(ZIGGURAT_WASM);
});
