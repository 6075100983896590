import { writeCustomTask } from '../cli/testing.js';
import { fillTemplate, loadCustomTask } from './custom.js';

describe('custom tasks', () => {
  test('--train-size and friends take the first rows of each file, and refuse more than it has', async () => {
    const task = loadCustomTask(writeCustomTask());
    const s = await task.load({ trainSetSeed: 0, sizes: { train: 3, test: 2 } });
    expect([s.train.length, s.dev.length, s.test.length]).toEqual([3, 4, 2]);
    expect(s.train.map((r) => r.text)).toEqual(['review 0', 'review 1', 'review 2']);
    await expect(task.load({ trainSetSeed: 0, sizes: { train: 11 } })).rejects.toThrow(
      /train\.jsonl: has 10 rows, fewer than the 11 that --train-size asks for/,
    );
  });

  test('duplicate candidates are refused', () => {
    expect(() => loadCustomTask(writeCustomTask({ candidates: ['great', 'bad', 'great'] }))).toThrow(
      /task\.yaml: candidates: "great" appears twice/,
    );
  });

  test('a stray brace in the template is refused; {{ and }} are literal braces', () => {
    expect(() => loadCustomTask(writeCustomTask({ template: '{text It was' }))).toThrow(
      /task\.yaml: template: a stray "\{" at character 1/,
    );
    expect(() => loadCustomTask(writeCustomTask({ template: '{text} It was }' }))).toThrow(/a stray "\}" at character 15/);
    expect(() => loadCustomTask(writeCustomTask({ template: '{{literal}} {text}' }))).not.toThrow();
    expect(fillTemplate('{{x}} {text} }}', { text: 'hi' }, 'here')).toBe('{x} hi }');
  });

  test('a JSONL file that starts with a UTF-8 byte-order mark reads as without one', async () => {
    const bom = '\ufeff' + JSON.stringify({ text: 'first', label: 'great' }) + '\n' + JSON.stringify({ text: 'second', label: 'terrible' });
    const s = await loadCustomTask(writeCustomTask({}, { train: bom })).load({ trainSetSeed: 0 });
    expect(s.train.map((r) => r.text)).toEqual(['first', 'second']);
  });
});
