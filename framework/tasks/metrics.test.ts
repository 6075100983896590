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
    expect(tokenF1('Paris', 'the')).toBe(0);
  });

  test('multiple gold answers: the best one counts', () => {
    expect(maxF1('Santa Clara', ['Levi Stadium', "Levi's Stadium in Santa Clara, California", 'Santa Clara'])).toBe(1);
    // vs "levis stadium in santa clara california" (6 tokens): overlap 2 → P 1, R 1/3 → 0.5
    expect(maxF1('Santa Clara', ["Levi's Stadium in Santa Clara, California"])).toBeCloseTo(0.5, 12);
    expect(maxF1('x', [])).toBe(0);
  });

  // Expected values from the official rules run in Python 3 (normalize_answer and f1_score of
  // SQuAD's evaluate-v1.1.py, which MeZO's metrics.py copies):
  //   python3 -c "import re,string; ..."   (the functions verbatim, then print(normalize_answer(s)))
  test.each([
    ['Ã the éan', 'ã éan'], // "an" inside "éan" is not a word: é is a letter to Python's \b
    ['Ãthe éan', 'ãthe éan'],
    ['éthe', 'éthe'],
    ['naïve the café', 'naïve café'],
    ['the\x85end\x1cthe', 'end'], // \x85 and \x1c are whitespace to Python's split()
    ['a\u3000b an', 'b'],
    ['x_the', 'xthe'], // "_" is a word character, then removed as punctuation
    ['中the 中 the', '中the 中'],
    ['١the ١ the', '١the ١'], // Arabic-Indic digits are word characters
    ['The  Eiffel Tower!', 'eiffel tower'],
  ])('normalizeAnswer(%j) is %j, as in Python', (input, expected) => {
    expect(normalizeAnswer(input)).toBe(expected);
  });

  test.each([
    ['the', 'a', 0], // both normalise to nothing: no shared token, so 0 (not 1)
    ['', '', 0],
    ['.', '!', 0],
    ['the cat', 'a cat', 1],
    ['éan', 'an', 0],
    ['Ãthe', 'the', 0],
    ['the the', 'the', 0],
    ['Denver Broncos won', 'Broncos', 0.5],
  ])('tokenF1(%j, %j) is %d, as in the official f1_score', (prediction, gold, expected) => {
    expect(tokenF1(prediction, gold)).toBeCloseTo(expected, 12);
  });
});
