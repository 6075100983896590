/**
 * The ziggurat's fast path in WebAssembly text, the source of ziggurat-wasm.ts (compiled by
 * `node dist/scripts/ziggurat-wasm.js`; a test checks the two agree). It computes what
 * `fillGaussianZiggurat` computes, bit for bit: per counter c, x = triple32(k1 + c), and where the
 * 23-bit magnitude u = x >>> 9 is under its layer's bound K[x & 255], the value u·W[x & 511] rounded to
 * float. The triple32 hash runs on four counters at once (i32x4); the table lookups are per lane. The
 * counters that miss their bound (about 1 in 70) are listed for JS, which runs the rare path: it needs
 * exp and log, whose JS values a WebAssembly port would not match bit for bit.
 *
 * Memory: K (256 i32) at 0, W (512 f64) at 1024, then what the caller lays out.
 * fill(out, n, k1, offset, rare) → the number of rare counters written at `rare` (as indices i < n).
 */
const MIX = [
  [17, '0xed5ad4bb'],
  [11, '0xac4c1b51'],
  [15, '0x31848bab'],
] as const;

/** v ← triple32(v), lane by lane. */
const hash = (): string =>
  [
    ...MIX.flatMap(([s, m]) => [
      `(local.set $v (v128.xor (local.get $v) (i32x4.shr_u (local.get $v) (i32.const ${s}))))`,
      `(local.set $v (i32x4.mul (local.get $v) (v128.const i32x4 ${m} ${m} ${m} ${m})))`,
    ]),
    `(local.set $v (v128.xor (local.get $v) (i32x4.shr_u (local.get $v) (i32.const 14))))`,
  ].join('\n        ');

/** Counter i + lane: its value into out, or its index onto the rare list. */
const lane = (l: number): string => `
        (local.set $x (i32x4.extract_lane ${l} (local.get $v)))
        (local.set $u (i32.shr_u (local.get $x) (i32.const 9)))
        (local.set $j (i32.add (local.get $i) (i32.const ${l})))
        (if (i32.lt_s (local.get $u) (i32.load (i32.shl (i32.and (local.get $x) (i32.const 255)) (i32.const 2))))
          (then
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
              (f32.demote_f64 (f64.mul (f64.convert_i32_u (local.get $u))
                (f64.load offset=1024 (i32.shl (i32.and (local.get $x) (i32.const 511)) (i32.const 3)))))))
          (else
            (i32.store (i32.add (local.get $rare) (i32.shl (local.get $count) (i32.const 2))) (local.get $j))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))))`;

/** The counters k1 + offset + i (+ 0, 1, 2, 3). */
const counters = (lanes: string): string =>
  `(local.set $v (i32x4.add (i32x4.splat (i32.add (local.get $k1) (i32.add (local.get $offset) (local.get $i)))) (v128.const i32x4 ${lanes})))`;

export const ZIGGURAT_WAT = `(module
  (memory (export "memory") 1)
  (func (export "fill") (param $out i32) (param $n i32) (param $k1 i32) (param $offset i32) (param $rare i32) (result i32)
    (local $i i32) (local $j i32) (local $x i32) (local $u i32) (local $count i32) (local $v v128) (local $n4 i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $quads
      (br_if $quads (i32.eqz (local.get $n4)))
      (loop $quad
        ${counters('0 1 2 3')}
        ${hash()}
        ${[0, 1, 2, 3].map(lane).join('')}
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $quad (i32.lt_u (local.get $i) (local.get $n4)))))
    (block $rest
      (br_if $rest (i32.ge_u (local.get $i) (local.get $n)))
      (loop $one
        ${counters('0 0 0 0')}
        ${hash()}
        ${lane(0)}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $one (i32.lt_u (local.get $i) (local.get $n)))))
    (local.get $count)))
`;
