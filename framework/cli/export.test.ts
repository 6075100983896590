/**
 * What a run leaves that works outside zo: RUNDIR/model/ (a Hugging Face folder), zo export, metrics.csv,
 * the loss plot, and run config files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { fixtureDir } from '../models/fixtures.js';
import { camelOf } from './common.js';
import { CONFIG_KEYS } from './run.js';
import { packageRoot } from '../core/paths.js';
import { expectOneLineError, killAfterCheckpoint, readJsonl, writeCustomTask, zo, smallCopaArgs } from './testing.js';
import { loadModel } from '../models/load.js';
import { tensorsOf, writeSafetensors } from '../models/safetensors.js';

const tmp = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `zo-export-${tag}-`));

/**
 * A second safetensors reader, independent of framework/models/safetensors.ts: the 8-byte
 * little-endian header length, the JSON header, and each tensor's bytes.
 */
function readSafetensors(file: string) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  > & {
    __metadata__?: Record<string, string>;
  };
  const { __metadata__: metadata, ...tensors } = header;
  const bytes = (name: string) => buf.subarray(8 + n + tensors[name]!.data_offsets[0], 8 + n + tensors[name]!.data_offsets[1]);
  return { metadata, tensors, bytes };
}

/** The tensors a Llama or Qwen2 config.json implies, as transformers names them (written from the HF modelling code, not ours). */
function expectedLlamaTensors(c: Record<string, any>): Record<string, number[]> {
  const d = c.hidden_size;
  const hd = c.head_dim ?? d / c.num_attention_heads;
  const kv = c.num_key_value_heads ?? c.num_attention_heads;
  const qkvBias = c.model_type === 'qwen2' || c.attention_bias === true;
  const out: Record<string, number[]> = { 'model.embed_tokens.weight': [c.vocab_size, d], 'model.norm.weight': [d] };
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `model.layers.${i}`;
    Object.assign(out, {
      [`${l}.input_layernorm.weight`]: [d],
      [`${l}.post_attention_layernorm.weight`]: [d],
      [`${l}.self_attn.q_proj.weight`]: [c.num_attention_heads * hd, d],
      [`${l}.self_attn.k_proj.weight`]: [kv * hd, d],
      [`${l}.self_attn.v_proj.weight`]: [kv * hd, d],
      [`${l}.self_attn.o_proj.weight`]: [d, c.num_attention_heads * hd],
      [`${l}.mlp.gate_proj.weight`]: [c.intermediate_size, d],
      [`${l}.mlp.up_proj.weight`]: [c.intermediate_size, d],
      [`${l}.mlp.down_proj.weight`]: [d, c.intermediate_size],
    });
    if (qkvBias)
      Object.assign(out, {
        [`${l}.self_attn.q_proj.bias`]: [c.num_attention_heads * hd],
        [`${l}.self_attn.k_proj.bias`]: [kv * hd],
        [`${l}.self_attn.v_proj.bias`]: [kv * hd],
      });
  }
  // A tied model has no lm_head tensor: transformers ties it to the embeddings on load.
  if (!(c.tie_word_embeddings ?? true)) out['lm_head.weight'] = [c.vocab_size, d];
  return out;
}
const ST_DTYPE: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };

/** A short task run (cached per model), with its JSON summary. */
const runs = new Map<string, Promise<{ out: string; summary: any }>>();
function taskRun(model: string): Promise<{ out: string; summary: any }> {
  if (!runs.has(model))
    runs.set(
      model,
      (async () => {
        const out = path.join(tmp('run'), 'r');
        const args = ['run', '--model', model, '--task-file', writeCustomTask(), '--optimizer', 'mezo', '--lr', '1e-2', '--steps', '20'];
        const r = await zo(...args, '--batch-size', '4', '--eval-every', '10', '--out', out, '--json');
        expect(r.code).toBe(0);
        return { out, summary: JSON.parse(r.stdout) };
      })(),
    );
  return runs.get(model)!;
}

describe('RUNDIR/model: a Hugging Face model folder', () => {
  test.each([
    ['the zoo’s tied fp32 Llama', path.join(packageRoot(), 'models', 'tiny-llama-s')],
    ['an untied fp32 Llama', fixtureDir('llama')],
    ['a bf16 Qwen2', fixtureDir('qwen2')],
  ])('%s: every tensor named, shaped and typed as config.json says, with format "pt"', async (_, model) => {
    const { out } = await taskRun(model);
    const dir = path.join(out, 'model');
    expect(fs.readdirSync(dir).sort()).toEqual([
      'README.md',
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const base = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ ...base, architectures: [base.model_type === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'] });
    expect(fs.readFileSync(path.join(dir, 'tokenizer.json'))).toEqual(fs.readFileSync(path.join(model, 'tokenizer.json')));
    const st = readSafetensors(path.join(dir, 'model.safetensors'));
    expect(st.metadata).toEqual({ format: 'pt' });
    const want = expectedLlamaTensors(config);
    expect(Object.keys(st.tensors).sort()).toEqual(Object.keys(want).sort());
    for (const [name, t] of Object.entries(st.tensors)) {
      expect([name, t.shape]).toEqual([name, want[name]]);
      expect([name, t.dtype]).toEqual([name, ST_DTYPE[config.torch_dtype ?? 'float32']]);
    }
  });

  test('loads in zo eval and zo forward, with a loss that differs from the base model’s; its weights are best.safetensors', async () => {
    const model = fixtureDir('llama');
    const { out } = await taskRun(model);
    const task = JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8')).taskFile;
    const evalLoss = async (m: string) =>
      JSON.parse((await zo('eval', '--model', m, '--task-file', task, '--split', 'dev', '--json')).stdout).loss;
    const [tuned, base] = [await evalLoss(path.join(out, 'model')), await evalLoss(model)];
    expect(Number.isFinite(tuned)).toBe(true);
    expect(tuned).not.toBe(base);
    const forward = async (m: string) => JSON.parse((await zo('forward', '--model', m, '--text', 'review 3 It was', '--json')).stdout).loss;
    expect(await forward(path.join(out, 'model'))).not.toBe(await forward(model));
    // fp32 export of the best weights: the same bytes as best.safetensors, tensor by tensor.
    const [exported, best] = [
      readSafetensors(path.join(out, 'model', 'model.safetensors')),
      readSafetensors(path.join(out, 'best.safetensors')),
    ];
    for (const name of Object.keys(best.tensors)) expect(exported.bytes(name).equals(best.bytes(name))).toBe(true);
  });

  test('the model card names the base model, the optimizer, the scores and a command that reproduces the run', async () => {
    const { out, summary } = await taskRun(fixtureDir('llama'));
    const card = fs.readFileSync(path.join(out, 'model', 'README.md'), 'utf8');
    expect(card).toMatch(/^---\nbase_model: llama\n/);
    expect(card).toContain('| optimizer | mezo |');
    expect(card).toContain('lr=0.01, eps=0.001');
    expect(card).toContain(`test ${summary.test.toFixed(4)}`);
    expect(card).toContain(`\`${summary.weightsSha256}\``);
    const command = /```bash\n(zo run .*)\n```/.exec(card)![1]!.split(' ').slice(1);
    const again = path.join(tmp('again'), 'r');
    const r = await zo(...command, '--out', again, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).weightsSha256).toBe(summary.weightsSha256);
  });
});

describe('zo export', () => {
  test('--weights final is the last checkpoint’s weights; a text-file run exports its final weights by default', async () => {
    const { out } = await taskRun(fixtureDir('llama'));
    const dest = path.join(tmp('final'), 'm');
    const r = await zo('export', out, '--out', dest, '--weights', 'final', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ weights: 'final' });
    const ck = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).dir;
    const [exported, final] = [
      readSafetensors(path.join(dest, 'model.safetensors')),
      readSafetensors(path.join(out, ck, 'model.safetensors')),
    ];
    for (const name of Object.keys(final.tensors)) expect(exported.bytes(name).equals(final.bytes(name))).toBe(true);
    expect(fs.readFileSync(path.join(dest, 'README.md'), 'utf8')).toContain('after the last step (20)');

    const lm = path.join(tmp('lm'), 'r');
    const text = path.join(packageRoot(), 'fixtures', 'text', 'moby-dick-opening.txt');
    const run = await zo(
      'run',
      '--model',
      fixtureDir('opt'),
      '--text-file',
      text,
      '--steps',
      '5',
      '--batch-size',
      '2',
      '--seq-len',
      '16',
      '--out',
      lm,
      '--no-plots',
    );
    expect(run.code).toBe(0);
    expect(fs.existsSync(path.join(lm, 'loss.png'))).toBe(false);
    expect(JSON.parse((await zo('export', lm, '--out', path.join(lm, 'again'), '--json')).stdout).weights).toBe('final');
    expectOneLineError(await zo('export', lm, '--out', path.join(lm, 'x'), '--weights', 'best'), 'no best.safetensors', '--weights final');
  });

  test('bad input: an unfinished run, a folder that is not a run, a destination in use', async () => {
    const { out } = await taskRun(fixtureDir('llama'));
    expectOneLineError(await zo('export', out, '--out', path.join(out, 'model')), 'give a new or empty folder');
    const unfinished = tmp('unfinished');
    fs.copyFileSync(path.join(out, 'spec.json'), path.join(unfinished, 'spec.json'));
    expectOneLineError(await zo('export', unfinished, '--out', path.join(unfinished, 'm')), 'not finished');
    expectOneLineError(await zo('export', tmp('empty'), '--out', path.join(tmp('x'), 'm')), 'not a run folder');
    const noRun = await zo(
      'run',
      '--model',
      fixtureDir('llama'),
      '--task-file',
      writeCustomTask(),
      '--steps',
      '2',
      '--out',
      path.join(tmp('nomodel'), 'r'),
      '--no-save-model',
      '--json',
    );
    expect(fs.existsSync(path.join(JSON.parse(noRun.stdout).out, 'model'))).toBe(false);
  });
});

describe('metrics.csv and the loss plot', () => {
  test('metrics.csv holds every metrics.jsonl line with the same values; loss.svg and loss.png exist, and zo plot redraws them', async () => {
    const { out } = await taskRun(fixtureDir('llama'));
    const lines = readJsonl(path.join(out, 'metrics.jsonl'));
    const rows = parse(fs.readFileSync(path.join(out, 'metrics.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(lines.length);
    rows.forEach((r, i) => {
      for (const [k, v] of Object.entries(lines[i])) expect([k, Number(r[k])]).toEqual([k, v]);
    });
    expect(Object.keys(rows[0]!)).toEqual(expect.arrayContaining(['step', 'loss', 'projectedGrad', 'lr', 'devLoss']));
    const svg = fs.readFileSync(path.join(out, 'loss.svg'), 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('dev loss');
    expect(svg).toContain('zero-shot dev');
    fs.rmSync(path.join(out, 'loss.png'));
    const r = await zo('plot', out);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'loss.png')).subarray(1, 4).toString()).toBe('PNG');
    expectOneLineError(await zo('plot', tmp('noplot')), 'not a run folder');
  });
});

describe('zo run --config', () => {
  test('a YAML file of options, HF TrainingArguments names included; flags override it; spec.json records the merge', async () => {
    const dir = tmp('config');
    const file = path.join(dir, 'run.yaml');
    fs.writeFileSync(
      file,
      [
        `model: ${fixtureDir('llama')}`,
        `task-file: ${writeCustomTask()}`,
        'optimizer: zo-sgd-sign',
        'learning_rate: 1.0e-4',
        'max_steps: 7',
        'per_device_train_batch_size: 3',
        'seed: 5',
        'evalEvery: 7',
        'weightDecay: 0.01',
        '',
      ].join('\n'),
    );
    const out = path.join(dir, 'r');
    const r = await zo('run', '--config', file, '--steps', '4', '--eval-every', '2', '--out', out, '--json');
    expect(r.code).toBe(0);
    const spec = JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8'));
    expect(spec).toMatchObject({
      optimizer: 'zo-sgd-sign',
      steps: 4,
      evalEvery: 2,
      batchSize: 3,
      seed: 5,
      hyperparameters: { lr: 1e-4, weightDecay: 0.01 },
    });
    expect(readJsonl(path.join(out, 'metrics.jsonl')).at(-1).step).toBe(3);

    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'lr: 1.0e-4\nnum_train_epochs: 3\n');
    expectOneLineError(await zo('run', '--config', path.join(dir, 'bad.yaml')), 'bad.yaml', 'num_train_epochs', 'not a zo run option');
    fs.writeFileSync(path.join(dir, 'twice.yaml'), 'lr: 1.0e-4\nlearning_rate: 1.0e-3\n');
    expectOneLineError(await zo('run', '--config', path.join(dir, 'twice.yaml')), 'learning_rate', 'second time');
    fs.writeFileSync(path.join(dir, 'list.yaml'), '- lr\n');
    expectOneLineError(await zo('run', '--config', path.join(dir, 'list.yaml')), 'expected a mapping');
    expectOneLineError(await zo('run', '--config', path.join(dir, 'none.yaml')), 'none.yaml', 'no such file');
  });

  test("a config file's hp is a mapping or --hp's list of key=value", async () => {
    const dir = tmp('config-hp');
    const head = [`model: ${fixtureDir('llama')}`, `task-file: ${writeCustomTask()}`, 'optimizer: mezo', 'steps: 2'];
    const cases: [string, Record<string, unknown>][] = [
      ['hp: {q: 2, oneSided: true}', { q: 2, oneSided: true }],
      ['hp: ["q=3"]', { q: 3 }],
    ];
    for (const [i, [line, want]] of cases.entries()) {
      const file = path.join(dir, `hp${i}.yaml`);
      fs.writeFileSync(file, [...head, line, ''].join('\n'));
      const out = path.join(dir, `r${i}`);
      expect((await zo('run', '--config', file, '--out', out, '--json')).code).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'spec.json'), 'utf8')).hyperparameters).toMatchObject(want);
    }
    fs.writeFileSync(path.join(dir, 'bad.yaml'), [...head, 'hp: 5', ''].join('\n'));
    expectOneLineError(await zo('run', '--config', path.join(dir, 'bad.yaml')), 'bad.yaml', 'hp must be a mapping');
  });

  test('a config file may set every option zo run --help lists (but the ones about the command itself)', async () => {
    const help = (await zo('run', '--help')).stdout;
    const flags = [...new Set([...help.matchAll(/^\s+--([a-z][a-z-]*)/gm)].map((m) => m[1]!))];
    expect(flags.length).toBeGreaterThan(30);
    const own = ['help', 'version', 'config', 'resume', 'json'];
    expect(
      flags
        .filter((f) => !own.includes(f))
        .map(camelOf)
        .sort(),
    ).toEqual([...CONFIG_KEYS].sort());
  });
});

describe('zo replay: a fine-tune as its losses', () => {
  const zooModel = path.join(packageRoot(), 'models', 'tiny-llama-s');
  const small = smallCopaArgs(20);
  const zoRun = async (out: string, ...args: string[]) => {
    const r = await zo('run', '--model', zooModel, ...small, '--no-plots', '--no-save-model', '--out', out, '--json', ...args);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  test.each(['mezo', 'zo-ft', 'zo-adam', 'hizoo'])(
    '%s: the base model and replay.bin rebuild the final weights bit for bit, from under 1%% of their size',
    async (optimizer) => {
      const out = path.join(tmp(`replay-${optimizer}`), 'r');
      const summary = await zoRun(out, '--optimizer', optimizer, '--lr', '1e-4', '--steps', '30');
      const r = JSON.parse((await zo('replay', out, '--json')).stdout);
      expect(r).toEqual({ weightsSha256: summary.weightsSha256, steps: 30, bytes: fs.statSync(path.join(out, 'replay.bin')).size });
      const weightBytes = 4 * 250_432;
      expect(r.bytes).toBeLessThan(0.01 * weightBytes);
    },
  );

  test('a run killed and resumed, then extended, still replays exactly', async () => {
    const out = path.join(tmp('replay-resume'), 'r');
    const args = ['run', '--model', zooModel, ...small, '--optimizer', 'zo-adam', '--lr', '1e-4', '--steps', '60', '--save-every', '5'];
    await killAfterCheckpoint([...args, '--no-plots', '--out', out], out, 15);
    const resumed = JSON.parse((await zo('run', '--resume', '--out', out, '--json')).stdout);
    expect(JSON.parse((await zo('replay', out, '--json')).stdout).weightsSha256).toBe(resumed.weightsSha256);
    const longer = JSON.parse((await zo('run', '--resume', '--out', out, '--steps', '70', '--json')).stdout);
    expect(longer.weightsSha256).not.toBe(resumed.weightsSha256);
    expect(JSON.parse((await zo('replay', out, '--json')).stdout)).toMatchObject({ weightsSha256: longer.weightsSha256, steps: 70 });
  });

  test('--out writes the rebuilt weights as a model folder: the final checkpoint’s bytes', async () => {
    const out = path.join(tmp('replay-out'), 'r');
    await zoRun(out, '--optimizer', 'mezo', '--lr', '1e-4', '--steps', '20');
    const dest = path.join(path.dirname(out), 'rebuilt');
    expect((await zo('replay', path.join(out, 'replay.bin'), '--out', dest)).code).toBe(0);
    const ck = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).dir;
    const [rebuilt, final] = [
      readSafetensors(path.join(dest, 'model.safetensors')),
      readSafetensors(path.join(out, ck, 'model.safetensors')),
    ];
    expect(Object.keys(rebuilt.tensors).length).toBeGreaterThan(0);
    for (const name of Object.keys(final.tensors)) expect(rebuilt.bytes(name).equals(final.bytes(name))).toBe(true);
  });

  test('weights that are not the run’s (another base model, a damaged replay.bin) are refused, and nothing is written', async () => {
    const out = path.join(tmp('replay-check'), 'r');
    await zoRun(out, '--optimizer', 'mezo', '--lr', '1e-4', '--steps', '6');
    // Another base: the same model with one weight moved by one ulp.
    const other = path.join(tmp('replay-base'), 'm');
    fs.cpSync(zooModel, other, { recursive: true });
    const m = loadModel(other);
    const w = m.params.get(m.params.names[1]!);
    w[0] = w[0]! + Math.abs(w[0]!) * 2 ** -20;
    writeSafetensors(path.join(other, 'model.safetensors'), tensorsOf(m.params));
    const dest = path.join(path.dirname(out), 'rebuilt');
    expectOneLineError(
      await zo('replay', out, '--model', other, '--out', dest),
      "are not the run's",
      "--model is not the run's base model",
    );
    expect(fs.existsSync(dest)).toBe(false);
    // A flipped loss bit in the last step's record: it parses and replays, to other weights.
    const bin = fs.readFileSync(path.join(out, 'replay.bin'));
    bin[bin.length - 2]! ^= 0x10;
    fs.writeFileSync(path.join(out, 'replay.bin'), bin);
    expectOneLineError(await zo('replay', out), 'the replay file is damaged');
  });

  test('a first-order run writes no replay file, and a damaged one is one line', async () => {
    const out = path.join(tmp('replay-fo'), 'r');
    await zoRun(out, '--optimizer', 'fo-sgd', '--lr', '1e-3', '--steps', '3');
    expect(fs.existsSync(path.join(out, 'replay.bin'))).toBe(false);
    expectOneLineError(await zo('replay', out), 'replay.bin', 'no such file');
    const bad = path.join(path.dirname(out), 'bad.bin');
    fs.writeFileSync(bad, 'not a replay');
    expectOneLineError(await zo('replay', bad), 'not a zo replay file');
  });
});
