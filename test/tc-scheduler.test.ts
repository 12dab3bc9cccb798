import test from 'ava';
import fc from 'fast-check';
import { DirectionScheduler, DROPPED, PASS, QUEUED } from '../dataplane/tc/scheduler.js';
import { defaultLimits, meanRate, percentile, type Source, simulate } from '../tools/simulate.js';

const M = 1e6;
const greedy = (neighbor: number, flow: number, rateBps = 300 * M, extra: Partial<Source> = {}): Source => ({
  neighbor,
  flow,
  bytes: 1420,
  shape: { kind: 'constant', rateBps },
  ...extra,
});

test('wtb-drr: two backlogged neighbours with weights 3:1 split 75/25, aggregate at capacity', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 1,
    algorithm: 'wtb-drr',
    durationMs: 6000,
    neighbors: [
      { index: 0, weight: 3 },
      { index: 1, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2)],
  });
  const a = meanRate(r, 0, 1000, 6000);
  const b = meanRate(r, 1, 1000, 6000);
  t.true(Math.abs(a / (a + b) - 0.75) < 0.005, `split ${a / (a + b)}`);
  t.true(a + b <= 100 * M * 1.005 && a + b >= 100 * M * 0.99, `aggregate ${(a + b) / M}`);
});

test('work-conserving: when one neighbour stops, the other gets the whole capacity within a second', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 1,
    algorithm: 'wtb-drr',
    durationMs: 6000,
    neighbors: [
      { index: 0, weight: 3 },
      { index: 1, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2, 300 * M, { stopMs: 3000 })],
  });
  // the stopped neighbour's queue drains at its share for ~0.5 s first (as it would with TCP)
  t.true(meanRate(r, 0, 3600, 6000) >= 99 * M, `${meanRate(r, 0, 3600, 6000) / M}`);
});

test('share: neighbour traffic stays under share × capacity; own traffic is limited only by capacity', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 0.5,
    algorithm: 'wtb-drr',
    durationMs: 5000,
    neighbors: [
      { index: 0, weight: 1 },
      { index: 1, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2)],
  });
  const agg = meanRate(r, 0, 1000, 5000) + meanRate(r, 1, 1000, 5000);
  t.true(agg <= 50.5 * M && agg >= 49 * M, `${agg / M}`);
  const own = simulate({
    capacityBps: 100 * M,
    share: 0.1,
    algorithm: 'wtb-drr',
    durationMs: 5000,
    neighbors: [{ index: 0, weight: 1 }],
    sources: [greedy(0, 1, 300 * M, { own: true })],
  });
  t.true(meanRate(own, 0, 1000, 5000) >= 99 * M, 'own traffic uses the full capacity despite share 0.1');
});

test('caps: a capped neighbour stays at its cap, the other takes the rest', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 1,
    algorithm: 'wtb-drr',
    durationMs: 5000,
    neighbors: [
      { index: 0, weight: 3, capBps: 20 * M },
      { index: 1, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2)],
  });
  t.true(meanRate(r, 0, 1000, 5000) <= 20.2 * M && meanRate(r, 0, 1000, 5000) >= 19.5 * M);
  t.true(meanRate(r, 1, 1000, 5000) >= 79 * M);
});

test('run-time reweight 3:1 → 1:1 takes effect within half a second', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 1,
    algorithm: 'wtb-drr',
    durationMs: 6000,
    neighbors: [
      { index: 0, weight: 3 },
      { index: 1, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2)],
    events: [{ atMs: 3000, apply: (s) => s.setWeight(0, 1) }],
  });
  const a = meanRate(r, 0, 3500, 6000);
  const b = meanRate(r, 1, 3500, 6000);
  t.true(Math.abs(a / (a + b) - 0.5) < 0.01, `${a / (a + b)}`);
});

test('fair queueing inside a neighbour: its own ping is not stuck behind its bulk flow (FIFO baseline is)', (t) => {
  const run = (algorithm: string) =>
    simulate({
      capacityBps: 100 * M,
      share: 1,
      algorithm,
      durationMs: 4000,
      neighbors: [
        { index: 0, weight: 1 },
        { index: 1, weight: 1 },
      ],
      sources: [
        greedy(0, 1),
        greedy(1, 2),
        { neighbor: 1, flow: 3, bytes: 84, shape: { kind: 'sparse', everyMs: 20 } },
      ],
    });
  const fq = run('wtb-drr');
  const fifo = run('fifo');
  t.true(
    percentile(fq.delays[2] as number[], 0.99) < 3,
    `fq ping p99 ${percentile(fq.delays[2] as number[], 0.99)} ms`,
  );
  t.true(percentile(fifo.delays[2] as number[], 0.5) > 20, 'the FIFO baseline queues the ping behind the bulk');
});

test('priority: the highest weight goes first; equal weights share', (t) => {
  const r = simulate({
    capacityBps: 100 * M,
    share: 1,
    algorithm: 'priority',
    durationMs: 4000,
    neighbors: [
      { index: 0, weight: 5 },
      { index: 1, weight: 5 },
      { index: 2, weight: 1 },
    ],
    sources: [greedy(0, 1), greedy(1, 2), greedy(2, 3)],
  });
  t.true(Math.abs(meanRate(r, 0, 1000, 4000) - 50 * M) < 1 * M);
  t.true(Math.abs(meanRate(r, 1, 1000, 4000) - 50 * M) < 1 * M);
  t.true(meanRate(r, 2, 1000, 4000) < 0.1 * M);
});

test('queues are bounded and drops are counted; nothing queued when there is no backlog', (t) => {
  const limits = defaultLimits({ queuePackets: 64, queueBytes: 1 << 20 });
  const s = new DirectionScheduler({ capacityBps: 10 * M, share: 1, algorithm: 'wtb-drr', limits, nowMs: 0 });
  s.addNeighbor(0, 1);
  const buf = new Uint8Array(1500);
  const verdicts = { pass: 0, queued: 0, dropped: 0 };
  for (let i = 0; i < 1000; i++) {
    const v = s.offer(0, false, buf, 0, 1400, i, 0);
    if (v === PASS) verdicts.pass++;
    else if (v === QUEUED) verdicts.queued++;
    else if (v === DROPPED) verdicts.dropped++;
    t.true(s.queueDepth(0).packets <= 64);
  }
  t.true(verdicts.pass > 0, 'the bucket depth passes in place');
  const c = s.counters(0);
  t.is(s.queueDepth(0).packets, 64);
  t.is((c?.dropQueueFull ?? 0) + verdicts.pass + 64, 1000);
  let released = 0;
  for (let now = 0; now < 1000 && s.queuedPackets > 0; now += 1) s.pump(now, () => released++);
  t.is(released, 64);
  t.is(s.queuedPackets, 0);
  t.is(
    s.pump(2000, () => released++),
    Number.POSITIVE_INFINITY,
  );
});

test('no neighbour can fill the shared packet pool: each queue gets a slice of it (64-byte floods from 100 capped neighbours)', (t) => {
  // a small pool: 512 KiB of 1472-byte slots (256), as jumbo frames shrink the real one
  const limits = defaultLimits({ queuePackets: 1024, queueBytes: 2 << 20, totalQueueBytes: 512 << 10 });
  const s = new DirectionScheduler({ capacityBps: 100 * M, share: 1, algorithm: 'wtb-drr', limits, nowMs: 0 });
  const buf = new Uint8Array(1500);
  for (let i = 0; i < 100; i++) {
    s.addNeighbor(i, 1);
    s.setCap(i, 8000, 0); // capped low: everything it sends queues
  }
  for (let i = 0; i < 100; i++) for (let p = 0; p < 2000; p++) s.offer(i, false, buf, 0, 64, p, 0);
  const slots = s.pool.maxSlots;
  t.true(s.queuedPackets < slots, `queued ${s.queuedPackets} of ${slots} slots`);
  for (let i = 0; i < 100; i++) t.true(s.queueDepth(i).packets <= s.slice);
  // a newcomer, and our own traffic, still find room
  s.addNeighbor(100, 1);
  s.setCap(100, 8000, 0);
  let queued = 0;
  for (let p = 0; p < 10; p++) if (s.offer(100, false, buf, 0, 64, p, 0) !== DROPPED) queued++;
  t.is(queued, 10);
  t.true(s.queuedPackets <= slots);
  t.log(`pool ${slots} slots; slice per queue ${s.slice} packets with 101 neighbours`);
});

test('a neighbour that goes away takes its queue with it', (t) => {
  const s = new DirectionScheduler({
    capacityBps: 1 * M,
    share: 1,
    algorithm: 'wtb-drr',
    limits: defaultLimits(),
    nowMs: 0,
  });
  s.addNeighbor(0, 1);
  const buf = new Uint8Array(1500);
  for (let i = 0; i < 100; i++) s.offer(0, false, buf, 0, 1400, i, 0);
  t.true(s.queuedPackets > 0);
  const dropped = s.removeNeighbor(0);
  t.true(dropped > 0);
  t.is(s.queuedPackets, 0);
  t.is(s.offer(0, false, buf, 0, 100, 0, 1), DROPPED);
});

// --- property tests against a reference computation ------------------------------------------

/** Weighted max-min fair shares (water-filling) of `budget` with per-neighbour limits. */
function waterFill(budget: number, weights: number[], limits: number[]): number[] {
  const alloc = weights.map(() => 0);
  let active = weights.map((_, i) => i).filter((i) => (limits[i] as number) > 0);
  let left = budget;
  while (active.length > 0 && left > 1e-9) {
    const w = active.reduce((s, i) => s + (weights[i] as number), 0);
    let saturated = false;
    for (const i of active) {
      const want = (limits[i] as number) - (alloc[i] as number);
      const fair = (left * (weights[i] as number)) / w;
      if (want <= fair) {
        alloc[i] = limits[i] as number;
        saturated = true;
      }
    }
    if (saturated) {
      left = budget - alloc.reduce((s, x) => s + x, 0);
      active = active.filter((i) => (alloc[i] as number) < (limits[i] as number));
      continue;
    }
    for (const i of active) alloc[i] = (alloc[i] as number) + (left * (weights[i] as number)) / w;
    left = 0;
  }
  return alloc;
}

const scenario = fc.record({
  n: fc.integer({ min: 2, max: 5 }),
  weights: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 5, maxLength: 5 }),
  demands: fc.array(fc.integer({ min: 5, max: 150 }), { minLength: 5, maxLength: 5 }),
  caps: fc.array(fc.option(fc.integer({ min: 5, max: 80 }), { nil: undefined }), { minLength: 5, maxLength: 5 }),
  share: fc.constantFrom(1, 0.8, 0.5),
});

test('property: wtb-drr long-run rates match weighted max-min fairness with caps and demands', (t) => {
  fc.assert(
    fc.property(scenario, ({ n, weights, demands, caps, share }) => {
      const C = 100 * M;
      const r = simulate({
        capacityBps: C,
        share,
        algorithm: 'wtb-drr',
        durationMs: 3000,
        neighbors: Array.from({ length: n }, (_, i) => ({
          index: i,
          weight: weights[i] as number,
          capBps: caps[i] === undefined ? undefined : caps[i] * M,
        })),
        sources: Array.from({ length: n }, (_, i) => greedy(i, i + 1, (demands[i] as number) * M)),
      });
      const limits = Array.from({ length: n }, (_, i) =>
        Math.min((demands[i] as number) * M, caps[i] === undefined ? Number.POSITIVE_INFINITY : caps[i] * M),
      );
      const want = waterFill(C * share, weights.slice(0, n), limits);
      for (let i = 0; i < n; i++) {
        const got = meanRate(r, i, 1000, 3000);
        if (Math.abs(got - (want[i] as number)) > 0.03 * C) {
          throw new Error(
            `neighbour ${i}: got ${(got / M).toFixed(2)} Mbit/s, reference ${((want[i] as number) / M).toFixed(2)}`,
          );
        }
      }
    }),
    { numRuns: 40, seed: 42 },
  );
  t.pass();
});

test('property: priority serves weights in order (water-filling per weight level)', (t) => {
  fc.assert(
    fc.property(scenario, ({ n, weights, demands, share }) => {
      const C = 100 * M;
      const r = simulate({
        capacityBps: C,
        share,
        algorithm: 'priority',
        durationMs: 3000,
        neighbors: Array.from({ length: n }, (_, i) => ({ index: i, weight: weights[i] as number })),
        sources: Array.from({ length: n }, (_, i) => greedy(i, i + 1, (demands[i] as number) * M)),
      });
      // reference: levels from the highest weight down; equal weights share equally
      let left = C * share;
      const want = new Array<number>(n).fill(0);
      for (const w of [...new Set(weights.slice(0, n))].sort((a, b) => b - a)) {
        const idx = Array.from({ length: n }, (_, i) => i).filter((i) => weights[i] === w);
        const got = waterFill(
          left,
          idx.map(() => 1),
          idx.map((i) => (demands[i] as number) * M),
        );
        idx.forEach((i, k) => {
          want[i] = got[k] as number;
        });
        left -= got.reduce((s, x) => s + x, 0);
      }
      for (let i = 0; i < n; i++) {
        const got = meanRate(r, i, 1000, 3000);
        if (Math.abs(got - (want[i] as number)) > 0.03 * C)
          throw new Error(`neighbour ${i}: ${(got / M).toFixed(2)} vs ${((want[i] as number) / M).toFixed(2)}`);
      }
    }),
    { numRuns: 30, seed: 7 },
  );
  t.pass();
});

test('property: fifo shares in proportion to offered load when overloaded', (t) => {
  fc.assert(
    fc.property(scenario, ({ n, demands }) => {
      const C = 100 * M;
      const r = simulate({
        capacityBps: C,
        share: 1,
        algorithm: 'fifo',
        durationMs: 3000,
        neighbors: Array.from({ length: n }, (_, i) => ({ index: i, weight: 1 })),
        sources: Array.from({ length: n }, (_, i) => greedy(i, i + 1, (demands[i] as number) * M)),
      });
      const total = demands.slice(0, n).reduce((s, d) => s + d * M, 0);
      for (let i = 0; i < n; i++) {
        const d = (demands[i] as number) * M;
        const want = total <= C ? d : (C * d) / total;
        const got = meanRate(r, i, 1000, 3000);
        if (Math.abs(got - want) > 0.04 * C)
          throw new Error(`neighbour ${i}: ${(got / M).toFixed(2)} vs ${(want / M).toFixed(2)}`);
      }
    }),
    { numRuns: 30, seed: 9 },
  );
  t.pass();
});
