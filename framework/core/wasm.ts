/** The part of the WebAssembly API zo's kernels use: the compiler's libs (ES2022, no DOM) do not declare it. */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
};

/** A kernel's exports: its memory, and the functions its text declares. */
export type Kernel<F> = F & { memory: { buffer: ArrayBuffer; grow(pages: number): number } };

/**
 * Instantiates a committed kernel (its base64 bytes, scripts/wasm.ts) with `bytes` of memory beyond its
 * first page; undefined where this Node cannot (no WebAssembly SIMD), and the caller falls back to JS.
 */
export function instantiateKernel<F>(base64: string, bytes: number): Kernel<F> | undefined {
  try {
    const module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
    const kernel = new WebAssembly.Instance(module, {}).exports as unknown as Kernel<F>;
    kernel.memory.grow(Math.ceil(bytes / 65536));
    return kernel;
  } catch {
    return undefined;
  }
}
