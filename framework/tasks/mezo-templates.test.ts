import { ZoError } from '../core/errors.js';
import {
  MEZO_RENDERERS,
  MEZO_TASK_NAMES,
  recordGoldIndices,
  renderBoolq,
  renderCb,
  renderCopa,
  renderDrop,
  renderMultirc,
  renderRecord,
  renderRte,
  renderSquad,
  renderSst2,
  renderWic,
  renderWsc,
} from './mezo-templates.js';

// Expected strings are written out by hand from MeZO's templates.py (docs/tasks.md#templates): the prompt is
// encode(sample).strip(' ') and prompt + option is verbalize(sample, candidate).strip(' ').

describe('MeZO templates', () => {
  test('SST-2: sentence stripped, " It was", options carry the space', () => {
    // HF glue/sst2 sentences end with a space.
    expect(renderSst2({ sentence: 'a gorgeous , witty , seductive movie . ', label: 1, idx: 3 })).toEqual({
      prompt: 'a gorgeous , witty , seductive movie . It was',
      options: [' terrible', ' great'],
      label: 1,
    });
  });

  test('RTE: entailment (0) is "Yes", options follow the newline', () => {
    expect(renderRte({ premise: 'Dana Reeve died of lung cancer.', hypothesis: 'Dana Reeve is dead.', label: 0, idx: 0 })).toEqual({
      prompt: 'Dana Reeve died of lung cancer.\nDoes this mean that "Dana Reeve is dead." is true? Yes or No?\n',
      options: ['Yes', 'No'],
      label: 0,
    });
  });

  test('CB: Yes / No / Maybe for entailment / contradiction / neutral', () => {
    expect(renderCb({ premise: 'It was a complex language.', hypothesis: 'the language was peeled down', label: 2, idx: 0 })).toEqual({
      prompt: 'Suppose It was a complex language. Can we infer that "the language was peeled down"? Yes, No, or Maybe?\n',
      options: ['Yes', 'No', 'Maybe'],
      label: 2,
    });
  });

  test('BoolQ: version 2 (BoolQTemplateV3), question capitalised with "?" appended', () => {
    expect(
      renderBoolq({ question: 'do iran and afghanistan speak the same language', answer: true, passage: 'Persian is spoken in Iran.' }),
    ).toEqual({
      prompt: 'Persian is spoken in Iran. Do iran and afghanistan speak the same language?\n',
      options: ['Yes', 'No'],
      label: 0,
    });
    // A question already ending in "?" keeps it; answer false is "No".
    expect(renderBoolq({ question: 'is it?', answer: false, passage: 'P.' })).toEqual({
      prompt: 'P. Is it?\n',
      options: ['Yes', 'No'],
      label: 1,
    });
    // super_glue/boolq rows: label 1 = True.
    expect(renderBoolq({ question: 'is it', label: 1, passage: 'P.', idx: 0 }).label).toBe(0);
    expect(renderBoolq({ question: 'is it', label: 0, passage: 'P.', idx: 0 }).label).toBe(1);
  });

  test('WSC: the pronoun (span2) lower-cased, span1 as is, No/Yes', () => {
    expect(
      renderWsc({
        text: 'Mark told Pete many lies about himself. He believed them.',
        span1_index: 0,
        span2_index: 8,
        span1_text: 'Mark',
        span2_text: 'He',
        label: 0,
        idx: 0,
      }),
    ).toEqual({
      prompt:
        'Mark told Pete many lies about himself. He believed them.\nIn the previous sentence, does the pronoun "he" refer to Mark? Yes or No?\n',
      options: ['No', 'Yes'],
      label: 0,
    });
  });

  test('WiC: word, then both sentences, No/Yes', () => {
    expect(
      renderWic({
        word: 'place',
        sentence1: 'Do you want to come over to my place later?',
        sentence2: 'A political system with no place for the less prominent groups.',
        label: 0,
        idx: 0,
      }),
    ).toEqual({
      prompt:
        'Does the word "place" have the same meaning in these two sentences? Yes, No?\nDo you want to come over to my place later?\nA political system with no place for the less prominent groups.\n',
      options: ['No', 'Yes'],
      label: 0,
    });
  });

  test('MultiRC: paragraph, question, candidate answer, No/Yes', () => {
    expect(
      renderMultirc({
        paragraph: 'Sam had a dog.',
        question: 'What did Sam have?',
        answer: 'A dog',
        label: 1,
        idx: { paragraph: 0, question: 0, answer: 0 },
      }),
    ).toEqual({
      prompt: 'Sam had a dog.\nQuestion: What did Sam have?\nI found this answer "A dog". Is that correct? Yes or No?\n',
      options: ['No', 'Yes'],
      label: 1,
    });
  });

  test('COPA effect: final period dropped, " so", choices with their first word lower-cased', () => {
    expect(
      renderCopa({
        premise: 'The girl found a bug in her cereal.',
        choice1: 'She poured milk in the bowl.',
        choice2: 'She lost her appetite.',
        question: 'effect',
        label: 1,
        idx: 0,
      }),
    ).toEqual({
      prompt: 'The girl found a bug in her cereal so',
      options: [' she poured milk in the bowl.', ' she lost her appetite.'],
      label: 1,
      target: ' she lost her appetite.',
    });
  });

  test('COPA cause: " because", and "I" keeps its capital (but "I\'m" does not)', () => {
    expect(
      renderCopa({
        premise: 'My body cast a shadow over the grass.  ',
        choice1: 'The sun was rising.',
        choice2: 'I stood up.',
        question: 'cause',
        label: 0,
        idx: 0,
      }),
    ).toEqual({
      prompt: 'My body cast a shadow over the grass because',
      options: [' the sun was rising.', ' I stood up.'],
      label: 0,
      target: ' the sun was rising.',
    });
    expect(renderCopa({ premise: 'X', choice1: "I'm tired.", choice2: 'Ice melted.', question: 'cause', label: 1 }).options).toEqual([
      " i'm tired.",
      ' ice melted.',
    ]);
  });

  test('ReCoRD: "@highlight\\n" becomes "- ", prompt ends "\\n-", options fill @placeholder', () => {
    const row = {
      passage: 'Tom Smith won the race in Paris.\n@highlight\nSmith wins\n@highlight\nRace held in France',
      query: '@placeholder celebrated the win in @placeholder',
      entities: ['Tom Smith', 'Paris', 'France', 'Smith'],
      entity_spans: { text: [], start: [], end: [] },
      answers: ['Smith', 'Tom Smith'],
      idx: { passage: 0, query: 0 },
    };
    expect(renderRecord(row)).toEqual({
      prompt: 'Tom Smith won the race in Paris.\n- Smith wins\n- Race held in France\n-',
      options: [
        ' Tom Smith celebrated the win in Tom Smith',
        ' Paris celebrated the win in Paris',
        ' France celebrated the win in France',
        ' Smith celebrated the win in Smith',
      ],
      label: 3, // the first gold answer ("Smith"), as MeZO trains
      target: ' Smith celebrated the win in Smith',
      labels: [3, 0], // either gold entity scores as correct, as in MeZO
    });
    expect(recordGoldIndices(row)).toEqual([3, 0]);
  });

  test('SQuAD: Title/Context/Question/Answer:, target " <first answer>\\n", all answers kept', () => {
    expect(
      renderSquad({
        id: '5733be284776f41900661182',
        title: 'University_of_Notre_Dame',
        context: 'The Grotto is a Marian place of prayer.',
        question: ' What is the Grotto? ',
        answers: { text: ['a Marian place of prayer', 'Marian place of prayer'], answer_start: [13, 15] },
      }),
    ).toEqual({
      prompt: 'Title: University_of_Notre_Dame\nContext: The Grotto is a Marian place of prayer.\nQuestion: What is the Grotto?\nAnswer:',
      answers: ['a Marian place of prayer', 'Marian place of prayer'],
      target: ' a Marian place of prayer\n',
    });
  });

  test('DROP: Passage/Question/Answer:, answers from answers_spans.spans', () => {
    expect(
      renderDrop({
        section_id: 'nfl_1',
        query_id: 'q1',
        passage: 'The Bears scored 3 touchdowns.',
        question: 'How many touchdowns?',
        answers_spans: { spans: ['3', 'three'], types: ['number', 'number'] },
      }),
    ).toEqual({
      prompt: 'Passage: The Bears scored 3 touchdowns.\nQuestion: How many touchdowns?\nAnswer:',
      answers: ['3', 'three'],
      target: ' 3\n',
    });
  });

  test('every prompt + option is the stripped verbalize text: spaces around the prompt go', () => {
    // MeZO strips spaces (only spaces) from both ends of encode and verbalize.
    expect(renderRte({ premise: '  P.', hypothesis: 'H', label: 1 })).toEqual({
      prompt: 'P.\nDoes this mean that "H" is true? Yes or No?\n',
      options: ['Yes', 'No'],
      label: 1,
    });
  });

  test('one renderer per task name', () => {
    expect(Object.keys(MEZO_RENDERERS).sort()).toEqual([...MEZO_TASK_NAMES].sort());
  });
});

describe('bad rows are one-line ZoErrors naming the row and field', () => {
  test.each([
    ['missing field', () => renderRte({ premise: 'P', label: 0 }, 'rte train row 7'), 'rte train row 7: missing field "hypothesis"'],
    [
      'label out of range',
      () => renderCb({ premise: 'P', hypothesis: 'H', label: 3 }),
      'cb: field "label" must be an integer in 0..2 (got 3)',
    ],
    [
      'test-split label -1',
      () => renderSst2({ sentence: 'x', label: -1 }, 'sst2 validation row 0'),
      'sst2 validation row 0: field "label" must be an integer in 0..1 (got -1)',
    ],
    [
      'label as a string',
      () => renderWic({ word: 'w', sentence1: 'a', sentence2: 'b', label: 'True' }),
      'wic: field "label" must be an integer in 0..1 (got "True")',
    ],
    ['wrong type', () => renderSst2({ sentence: 5, label: 0 }), 'sst2: field "sentence" must be a string (got number)'],
    [
      'COPA question',
      () => renderCopa({ premise: 'p', choice1: 'a', choice2: 'b', question: 'why', label: 0 }),
      'copa: field "question" must be "cause" or "effect" (got "why")',
    ],
    ['BoolQ without answer', () => renderBoolq({ question: 'q', passage: 'p' }), 'boolq: missing field "answer"'],
    [
      'ReCoRD answer not an entity',
      () => renderRecord({ passage: 'p', query: '@placeholder', entities: ['A'], answers: ['B'] }),
      'record: answer "B" is not one of the entities',
    ],
    [
      'ReCoRD without answers',
      () => renderRecord({ passage: 'p', query: '@placeholder', entities: ['A'], answers: [] }),
      'record: field "answers" is empty (HF test rows have no answers)',
    ],
    [
      'SQuAD answers shape',
      () => renderSquad({ title: 't', context: 'c', question: 'q', answers: ['a'] }),
      'squad: field "answers" must be an object with a "text" list',
    ],
    [
      'DROP no spans',
      () => renderDrop({ passage: 'p', question: 'q', answers_spans: { spans: [], types: [] } }),
      'drop: field "answers_spans.spans" is empty',
    ],
  ])('%s', (_name, fn, message) => {
    expect(fn).toThrow(ZoError);
    expect(fn).toThrow(message);
  });

  test('bigint labels (parquet INT64) are accepted', () => {
    expect(renderSst2({ sentence: 'ok', label: 1n }).label).toBe(1);
  });
});
