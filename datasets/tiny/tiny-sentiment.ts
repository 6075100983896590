import { renderSst2 } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { tinyTask, withoutNearDuplicates } from './common.js';
import { uciSentences } from './uci-sentences.js';

const NAME = 'tiny-sentiment';
const sentence = (r: Row) => [String(r.sentence)];

/** SST-2's twin: real review sentences (imdb + yelp), "[sentence] It was" + {" terrible", " great"}. */
export const tinySentiment = tinyTask<Row>({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description:
    'SST-2-like: real UCI review sentences (imdb, yelp) from npm sentiment@5.0.2, terrible/great; no near-duplicates across splits',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderSst2,
  // Each sentence is its own entity; near-duplicates ("Will not be back." / "Will not be back!") are kept once.
  entities: () =>
    withoutNearDuplicates(
      (['imdb', 'yelp'] as const).flatMap((src) => uciSentences(NAME, src, 150)).map((s) => ({ sentence: s.text, label: s.label })),
      sentence,
    ),
  split: { test: 500, dev: 200 },
  rows: (split) => [...split],
  content: sentence,
  textContent: true,
});
