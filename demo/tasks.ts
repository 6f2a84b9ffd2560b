/**
 * Demo tasks: count the primes in a range by splitting it in two until the
 * pieces are small, one task per piece. Subtasks go to the spawning
 * worker's own queue; idle workers steal them.
 *
 * @module
 */
import { AtomicBox, AtomicCounter, Runtime } from "../mod.ts";

/** The largest gap between consecutive primes found in one piece. */
export interface Gap {
  gap: number;
  after: number;
}

const self = import.meta.url;

/** Primes in [from, to) and the largest gap between them (segmented sieve). */
export function sieve(from: number, to: number): { primes: number; gap: Gap } {
  const size = to - from;
  const composite = new Uint8Array(size);
  const root = Math.floor(Math.sqrt(to));
  const small = new Uint8Array(root + 1);
  for (let p = 2; p <= root; p++) {
    if (small[p]) continue;
    for (let m = p * p; m <= root; m += p) small[m] = 1;
    for (let m = Math.max(p * p, Math.ceil(from / p) * p); m < to; m += p) composite[m - from] = 1;
  }
  let primes = 0;
  let last = -1;
  const gap: Gap = { gap: 0, after: 0 };
  for (let i = 0; i < size; i++) {
    const n = from + i;
    if (n < 2 || composite[i]) continue;
    primes++;
    if (last >= 0 && n - last > gap.gap) {
      gap.gap = n - last;
      gap.after = last;
    }
    last = n;
  }
  return { primes, gap };
}

/**
 * The number of primes in [from, to): split while the range is larger than
 * `piece`, sieve otherwise. Each sieved piece bumps `done` and offers its
 * largest gap to `best` (compare-and-swap on the shared box).
 */
export async function countPrimes(
  from: number,
  to: number,
  piece: number,
  done: number,
  best: number,
): Promise<number> {
  if (to - from > piece) {
    const mid = from + Math.ceil((to - from) / 2 / piece) * piece;
    const rt = Runtime.current()!;
    const [a, b] = await Promise.all([
      rt.spawn<number>(self, "countPrimes", from, mid, piece, done, best),
      rt.spawn<number>(self, "countPrimes", mid, to, piece, done, best),
    ]);
    return a + b;
  }
  const r = sieve(from, to);
  using box = AtomicBox.from<Gap>(best, { codec: "json" });
  for (;;) {
    const { value, version } = box.loadVersioned();
    if (r.gap.gap <= value.gap || box.compareAndSwap(version, r.gap)) break;
  }
  using counter = AtomicCounter.from(done);
  counter.add(1);
  return r.primes;
}
