// Tests are compiled by `tsc` (npm test runs it first) and jest runs the emitted ESM directly:
// one compile for typecheck and tests, no per-file transform.
export default {
  testEnvironment: '<rootDir>/jest.environment.js',
  roots: ['<rootDir>/dist'],
  testMatch: ['**/*.test.js'],
  transform: {},
  testTimeout: 120000,
  maxWorkers: 2,
};
