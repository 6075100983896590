// The layers of zo, bottom to top (docs/architecture.md#layers). Each may use only those below it; tests
// may reach up (an engine test runs real models), production code never does.
const LAYERS = [
  'framework/core',
  'framework/plots',
  'framework/engine',
  'framework/models',
  'framework/tasks',
  'datasets',
  'framework/optimizers',
  'framework/learned',
  'framework/harness',
  'framework/runs',
  'framework/pretrain',
  'framework/grid',
  'framework/bench',
  'framework/cli',
  'framework/index.ts',
  'scripts',
];
const TESTS = '(\\.test\\.ts$|/testing\\.ts$)';
const above = (i) => LAYERS.slice(i + 1).map((l) => `^${l}`);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not import each other in a circle.',
      from: { pathNot: TESTS },
      to: { circular: true },
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer-${layer.replace(/^framework\//, '')}`,
      severity: 'error',
      comment: `${layer} may use only the layers below it: ${LAYERS.slice(0, i).join(', ') || 'none'}.`,
      from: { path: `^${layer}`, pathNot: TESTS },
      to: { path: above(i) },
    })),
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, path: '^\\.' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
