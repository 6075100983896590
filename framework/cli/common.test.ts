import { repeatedFlag } from './common.js';

test('a repeated array flag collects every occurrence, in order; a single one is left to yargs', () => {
  const raw = ['meta-train', '--task', 'a', '--steps', '4', '--task=b', '--task', 'c', 'd', '--out', 'x'];
  expect(repeatedFlag(raw, 'task')).toEqual(['a', 'b', 'c', 'd']);
  expect(repeatedFlag(raw, 'out')).toBeUndefined();
  expect(repeatedFlag(['--task-file', 'f.json', '--task', 'a', '--task-file', 'g.json'], 'task-file')).toEqual(['f.json', 'g.json']);
  expect(repeatedFlag(['--hp', 'q=2', '--', '--hp', 'm=1'], 'hp')).toBeUndefined();
});
