import { maxF1, normalizeAnswer, tokenF1 } from './metrics.js';

describe('SQuAD F1', () => {
  test('normalisation drops case, punctuation and articles', () => {
    expect(normalizeAnswer('The  Eiffel Tower!')).toBe('eiffel tower');
    expect(normalizeAnswer('an apple, a pear and THE end.')).toBe('apple pear and end');
    expect(normalizeAnswer("Denver Broncos'")).toBe('denver broncos');
    // Articles only as whole words: "theory" and "another" keep their letters.
    expect(normalizeAnswer('theory of another')).toBe('theory of another');
  });

  test('token F1 by hand', () => {
    expect(tokenF1('Denver Broncos', 'Denver Broncos')).toBe(1);
    expect(tokenF1('the Denver Broncos', 'Denver Broncos')).toBe(1);
    // p = {denver, broncos, won} vs g = {broncos}: precision 1/3, recall 1 → F1 = 2·(1/3)/(4/3) = 0.5
    expect(tokenF1('Denver Broncos won', 'Broncos')).toBeCloseTo(0.5, 12);
    // p = {1, 2, 2}, g = {2, 2, 3}: overlap 2 → P = R = 2/3 → F1 = 2/3
    expect(tokenF1('1 2 2', '2 2 3')).toBeCloseTo(2 / 3, 12);
    expect(tokenF1('Paris', 'London')).toBe(0);
    expect(tokenF1('the', 'a')).toBe(1); // both normalise to nothing
    expect(tokenF1('Paris', 'the')).toBe(0);
  });

  test('multiple gold answers: the best one counts', () => {
    expect(maxF1('Santa Clara', ['Levi Stadium', "Levi's Stadium in Santa Clara, California", 'Santa Clara'])).toBe(1);
    // vs "levis stadium in santa clara california" (6 tokens): overlap 2 → P 1, R 1/3 → 0.5
    expect(maxF1('Santa Clara', ["Levi's Stadium in Santa Clara, California"])).toBeCloseTo(0.5, 12);
    expect(maxF1('x', [])).toBe(0);
  });
});
