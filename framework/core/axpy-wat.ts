/**
 * θ ← θ − c·z in WebAssembly text, the source of axpy-wasm.ts (compiled by `node dist/scripts/wasm.js`;
 * a test checks the two agree). Each element is what JS's `theta[i] - c * z[i]` stores into a
 * Float32Array: both operands widened to float64, c·z and the difference in float64, the result rounded
 * to float32 (round to nearest, ties to even, as a typed-array store rounds). Two at a time in f64x2,
 * four per loop. `subSums` also adds each new θ and its square to float64 sums in index order, one
 * element after another, so they equal a JS loop's sums bit for bit.
 *
 * sub(th, z, n, c) and subSums(th, z, n, c, acc): th and z are byte offsets of n float32s; acc holds
 * the two running sums (float64), read at the start and written at the end.
 */

/** Two of four: lanes 0–1 of x (`low`) or 2–3, widened. */
const widen = (x: string, low: boolean): string =>
  low ? `(f64x2.promote_low_f32x4 ${x})` : `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${x} ${x}))`;

/** f32(θ − c·z) for two lanes, in the low half of an f32x4. */
const half = (low: boolean): string =>
  `(f32x4.demote_f64x2_zero (f64x2.sub ${widen('(local.get $a)', low)} (f64x2.mul (local.get $cv) ${widen('(local.get $b)', low)})))`;

/** Lane l of $r into the sums, in order. */
const addLane = (l: number): string => `
        (local.set $v (f64.promote_f32 (f32x4.extract_lane ${l} (local.get $r))))
        (local.set $s (f64.add (local.get $s) (local.get $v)))
        (local.set $q (f64.add (local.get $q) (f64.mul (local.get $v) (local.get $v))))`;

/** One element, scalar: the tail after the last group of four. */
const one = (sums: boolean): string => `
        (local.set $x (f32.demote_f64 (f64.sub (f64.promote_f32 (f32.load (local.get $th)))
          (f64.mul (local.get $c) (f64.promote_f32 (f32.load (local.get $z)))))))
        (f32.store (local.get $th) (local.get $x))${
          sums
            ? `
        (local.set $v (f64.promote_f32 (local.get $x)))
        (local.set $s (f64.add (local.get $s) (local.get $v)))
        (local.set $q (f64.add (local.get $q) (f64.mul (local.get $v) (local.get $v))))`
            : ''
        }`;

/** The two pointers and the count move on by k elements. */
const advance = (k: number): string => `
        (local.set $th (i32.add (local.get $th) (i32.const ${4 * k})))
        (local.set $z (i32.add (local.get $z) (i32.const ${4 * k})))
        (local.set $i (i32.add (local.get $i) (i32.const ${k})))`;

const func = (name: string, sums: boolean): string => `
  (func (export "${name}") (param $th i32) (param $z i32) (param $n i32) (param $c f64)${sums ? ' (param $acc i32)' : ''}
    (local $i i32) (local $n4 i32) (local $cv v128) (local $a v128) (local $b v128) (local $r v128)
    (local $x f32) (local $v f64) (local $s f64) (local $q f64)
    (local.set $cv (f64x2.splat (local.get $c)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))${
      sums
        ? `
    (local.set $s (f64.load (local.get $acc)))
    (local.set $q (f64.load offset=8 (local.get $acc)))`
        : ''
    }
    (block $quads
      (br_if $quads (i32.eqz (local.get $n4)))
      (loop $quad
        (local.set $a (v128.load (local.get $th)))
        (local.set $b (v128.load (local.get $z)))
        (local.set $r (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${half(true)} ${half(false)}))
        (v128.store (local.get $th) (local.get $r))${sums ? [0, 1, 2, 3].map(addLane).join('') : ''}${advance(4)}
        (br_if $quad (i32.lt_u (local.get $i) (local.get $n4)))))
    (block $rest
      (br_if $rest (i32.ge_u (local.get $i) (local.get $n)))
      (loop $tail${one(sums)}${advance(1)}
        (br_if $tail (i32.lt_u (local.get $i) (local.get $n)))))${
          sums
            ? `
    (f64.store (local.get $acc) (local.get $s))
    (f64.store offset=8 (local.get $acc) (local.get $q))`
            : ''
        })`;

export const AXPY_WAT = `(module
  (memory (export "memory") 1)${func('sub', false)}${func('subSums', true)})
`;
