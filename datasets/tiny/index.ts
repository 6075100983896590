/** The offline tiny suite (docs/tasks.md#tiny-suite): one task per task type of the paper, all data from npm. */
import type { TinyTask } from './common.js';
import { tinyBoolq } from './tiny-boolq.js';
import { tinyCb } from './tiny-cb.js';
import { tinyCopa } from './tiny-copa.js';
import { tinyDrop } from './tiny-drop.js';
import { tinySentiment } from './tiny-sentiment.js';
import { tinySquad } from './tiny-squad.js';
import { tinyWsc } from './tiny-wsc.js';

export const TINY_TASKS: TinyTask[] = [tinySentiment, tinyCb, tinyBoolq, tinyCopa, tinyWsc, tinySquad, tinyDrop];
