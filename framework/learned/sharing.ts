import { blockLayer } from '../models/roles.js';

/**
 * Which blocks share one PertNN (docs/methods/zo-finetuner.md#switches): 'block', a net per block
 * (the paper's); 'layer', one per transformer layer; 'global', one for the whole model. Only the
 * weights are shared: every block still feeds its own features and gets its own σ.
 */
export type Sharing = 'block' | 'layer' | 'global';
export const SHARINGS: readonly Sharing[] = ['block', 'layer', 'global'];

/** The name of a 'global' bank's one net. */
export const GLOBAL_GROUP = 'global';

/**
 * The group, i.e. the net, a block uses: the block itself; its layer (`model.layers.3`), a block
 * outside the layer stack keeping its own; or the one global net.
 */
export function shareGroup(name: string, sharing: Sharing): string {
  if (sharing === 'global') return GLOBAL_GROUP;
  if (sharing === 'layer') return blockLayer(name) ?? name;
  return name;
}

/** The distinct groups of a block list in order of first appearance (a bank's net order), and each block's index into them. */
export function groupIndex(groups: readonly string[]): { names: string[]; index: number[] } {
  const at = new Map<string, number>();
  const index = groups.map((g) => {
    if (!at.has(g)) at.set(g, at.size);
    return at.get(g)!;
  });
  return { names: [...at.keys()], index };
}
