import { renderSst2 } from '../../framework/tasks/mezo-templates.js';
import { tinyTask, uniqueRows } from './common.js';
import { uciSentences } from './uci-sentences.js';

const NAME = 'tiny-sentiment';

/** SST-2's twin: real review sentences (imdb + yelp), "[sentence] It was" + {" terrible", " great"}. */
export const tinySentiment = tinyTask({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description: 'SST-2-like: real UCI review sentences (imdb, yelp) from npm sentiment@5.0.2, terrible/great',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderSst2,
  build: () =>
    uniqueRows(
      (['imdb', 'yelp'] as const).flatMap((src) => uciSentences(NAME, src, 150)).map((s) => ({ sentence: s.text, label: s.label })),
      (r) => r.sentence as string,
    ),
});
