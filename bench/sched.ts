/**
 * Scheduler simulator: drives the real traffic-control code (the same
 * DirectionScheduler the daemon runs) with synthetic traffic on a virtual
 * clock, for every algorithm and scenario. Writes per-neighbour throughput
 * over time as SVG and CSV, and prints a summary table.
 *
 *   npm run build && node dist/bench/sched.js [--out DIR] [--only SCENARIO] [--seconds N]
 *
 * Output: DIR/<scenario>-<algorithm>.svg and .csv (default bench/out/sched).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALGORITHMS } from '../dataplane/tc/algorithms/index.js';
import {
  meanRate,
  type NeighborSetup,
  percentile,
  type SimEvent,
  type SimResult,
  type Source,
  simulate,
} from '../tools/simulate.js';
import { lineChart, type Series, seriesCsv } from '../tools/svg.js';
import { benchOption } from '../tools/args.js';

const opt = benchOption;
const OUT = opt('out', 'bench/out/sched');
const ONLY = opt('only', '');
const M = 1e6;

interface Scenario {
  name: string;
  what: string;
  /** Default 100 Mbit/s. */
  capacityBps?: number;
  /** Default 1. */
  share?: number;
  durationMs: number;
  neighbors: NeighborSetup[];
  labels: string[];
  sources: Source[];
  events?: SimEvent[];
  markers?: Array<[number, string]>;
  /** Steady window for the summary [fromMs, toMs). */
  window: [number, number];
  /** Source index of a sparse flow whose delay is reported. */
  probe?: number;
  sampleMs?: number;
}

const greedy = (neighbor: number, flow: number, rateBps: number, extra: Partial<Source> = {}): Source => ({
  neighbor,
  flow,
  bytes: 1420,
  shape: { kind: 'constant', rateBps },
  ...extra,
});

/** Neighbours 0, 1, … with these weights. */
const weights = (...ws: number[]): NeighborSetup[] => ws.map((weight, index) => ({ index, weight }));

/** n neighbours, each sending one flow far above its share. */
const backlogged = (n: number): Source[] => Array.from({ length: n }, (_, i) => greedy(i, i + 1, 150 * M));

const scenarios: Scenario[] = [
  {
    name: 'weights',
    what: 'three backlogged neighbours, weights 3:2:1, capacity 100 Mbit/s',
    durationMs: 20_000,
    neighbors: weights(3, 2, 1),
    labels: ['n0 (w3)', 'n1 (w2)', 'n2 (w1)'],
    sources: backlogged(3),
    window: [2000, 20_000],
  },
  {
    name: 'onoff',
    what: 'n0 always sends; n1 (same weight) on 3 s / off 3 s: work conservation',
    durationMs: 20_000,
    neighbors: weights(1, 1),
    labels: ['n0 (always)', 'n1 (on/off)'],
    sources: [
      greedy(0, 1, 150 * M),
      { neighbor: 1, flow: 2, bytes: 1420, shape: { kind: 'onoff', rateBps: 150 * M, onMs: 3000, offMs: 3000 } },
    ],
    window: [0, 20_000],
  },
  {
    name: 'caps',
    what: 'n0 weight 3 capped at 20 Mbit/s, n1 and n2 weight 1: the cap holds, the rest is shared',
    durationMs: 15_000,
    neighbors: [
      { index: 0, weight: 3, capBps: 20 * M },
      { index: 1, weight: 1 },
      { index: 2, weight: 1 },
    ],
    labels: ['n0 (w3, cap 20)', 'n1 (w1)', 'n2 (w1)'],
    sources: backlogged(3),
    window: [2000, 15_000],
  },
  {
    name: 'share-own',
    what: 'share 0.5: neighbour traffic ≤ 50 Mbit/s; from 6 s to 12 s the node itself sends 30 Mbit/s (own traffic, not limited by share)',
    share: 0.5,
    durationMs: 18_000,
    neighbors: weights(1, 1),
    labels: ['n0 (forwarded)', 'n1 (forwarded + own)'],
    sources: [
      greedy(0, 1, 150 * M),
      greedy(1, 2, 150 * M),
      greedy(1, 9, 30 * M, { own: true, startMs: 6000, stopMs: 12_000 }),
    ],
    window: [2000, 6000],
    markers: [
      [6, 'own traffic starts'],
      [12, 'stops'],
    ],
  },
  {
    name: 'latency',
    what: 'n0: 8 bulk flows; n1: one bulk flow and a ping every 10 ms (delay of the ping)',
    durationMs: 15_000,
    neighbors: weights(1, 1),
    labels: ['n0 (8 bulk flows)', 'n1 (bulk + ping)'],
    sources: [
      ...Array.from({ length: 8 }, (_, i) => greedy(0, 10 + i, 25 * M)),
      greedy(1, 2, 150 * M),
      { neighbor: 1, flow: 3, bytes: 84, shape: { kind: 'sparse', everyMs: 10 }, label: 'ping' },
    ],
    window: [2000, 15_000],
    probe: 9,
  },
  {
    name: 'reweight',
    what: 'weights 3:1, changed to 1:1 at 8 s (scrooge set weight)',
    durationMs: 16_000,
    neighbors: weights(3, 1),
    labels: ['n0', 'n1'],
    sources: [greedy(0, 1, 150 * M), greedy(1, 2, 150 * M)],
    events: [{ atMs: 8000, apply: (s) => s.setWeight(0, 1) }],
    markers: [[8, 'weight 3 → 1']],
    window: [9000, 16_000],
  },
  {
    name: 'gigabit',
    what: '60 s of 1 Gbit/s: two neighbours, weights 1:2 (simulation speed)',
    capacityBps: 1000 * M,
    durationMs: Number(opt('seconds', '60')) * 1000,
    neighbors: weights(1, 2),
    labels: ['n0 (w1)', 'n1 (w2)'],
    sources: [greedy(0, 1, 700 * M), greedy(1, 2, 700 * M)],
    window: [1000, Number(opt('seconds', '60')) * 1000],
    sampleMs: 500,
  },
];

function toSeries(sc: Scenario, r: SimResult): Series[] {
  return sc.neighbors.map((n, i) => ({
    label: sc.labels[i] ?? `n${n.index}`,
    points: (r.series.get(n.index) ?? []).map((bytes, k): [number, number] => [
      ((k + 1) * r.sampleMs) / 1000,
      (bytes * 8) / r.sampleMs / 1000,
    ]),
  }));
}

mkdirSync(OUT, { recursive: true });
const rows: string[] = [];
const started = performance.now();
for (const sc of scenarios) {
  if (ONLY && sc.name !== ONLY) continue;
  for (const algorithm of Object.keys(ALGORITHMS)) {
    const r = simulate({
      capacityBps: sc.capacityBps ?? 100 * M,
      share: sc.share ?? 1,
      algorithm,
      neighbors: sc.neighbors,
      sources: sc.sources,
      durationMs: sc.durationMs,
      sampleMs: sc.sampleMs ?? 100,
      events: sc.events,
    });
    const series = toSeries(sc, r);
    writeFileSync(
      join(OUT, `${sc.name}-${algorithm}.svg`),
      lineChart(series, {
        title: `${sc.name} — ${algorithm}`,
        subtitle: sc.what,
        xLabel: 'time (s)',
        yLabel: 'Mbit/s',
        markers: sc.markers,
        yMax: ((sc.capacityBps ?? 100 * M) / M) * 1.15,
      }),
    );
    writeFileSync(join(OUT, `${sc.name}-${algorithm}.csv`), seriesCsv(series, 'seconds'));
    const rates = sc.neighbors
      .map((n) => (meanRate(r, n.index, sc.window[0], sc.window[1]) / M).toFixed(1))
      .join(' / ');
    const probe = sc.probe !== undefined ? (r.delays[sc.probe] ?? []) : [];
    const delay = probe.length ? `${percentile(probe, 0.5).toFixed(2)} / ${percentile(probe, 0.99).toFixed(2)}` : '-';
    const simSeconds = sc.durationMs / 1000;
    rows.push(
      `| ${sc.name} | ${algorithm} | ${rates} | ${delay} | ${simSeconds} s in ${(r.wallMs / 1000).toFixed(2)} s |`,
    );
  }
}
process.stdout.write(
  [
    `bench/sched: the real scheduler on a virtual clock (node ${process.version}); plots and CSV in ${OUT}`,
    '',
    '| scenario | algorithm | mean Mbit/s per neighbour (steady window) | probe delay p50 / p99 ms | simulated in |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `total ${((performance.now() - started) / 1000).toFixed(1)} s`,
    '',
    ...scenarios.filter((s) => !ONLY || s.name === ONLY).map((s) => `- ${s.name}: ${s.what}`),
  ].join('\n') + '\n',
);
