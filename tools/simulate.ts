/**
 * Drives the real DirectionScheduler with synthetic traffic on a virtual
 * clock (no I/O): used by the property tests and bench/sched, and by anyone
 * trying a new algorithm. Arrivals are processed in batches per step and the
 * scheduler is pumped after each batch and on a 1 ms timer, like the daemon.
 * Each packet carries its arrival time in its first bytes, so delays are
 * measured on what the scheduler really releases.
 */
import { prng } from './prng.js';
import { DirectionScheduler, PASS, QUEUED, type SchedulerLimits } from '../dataplane/tc/scheduler.js';
import { schedulerLimits } from '../src/limits.js';

export type SourceKind =
  | { kind: 'constant'; rateBps: number }
  /** rateBps while on, nothing while off; starts on */
  | { kind: 'onoff'; rateBps: number; onMs: number; offMs: number }
  /** `packets` back to back every `everyMs` */
  | { kind: 'burst'; packets: number; everyMs: number }
  /** one packet every `everyMs` (a ping) */
  | { kind: 'sparse'; everyMs: number };

export interface Source {
  neighbor: number;
  /** Own traffic (not limited by share). */
  own?: boolean;
  /** Inner flow id (fair queueing inside the neighbour's queue). */
  flow: number;
  bytes: number;
  startMs?: number;
  stopMs?: number;
  shape: SourceKind;
  label?: string;
}

export interface NeighborSetup {
  index: number;
  weight: number;
  capBps?: number;
}

export interface SimEvent {
  atMs: number;
  apply: (s: DirectionScheduler, nowMs: number) => void;
}

export interface SimResult {
  /** Per neighbour: bytes released per sample interval. */
  series: Map<number, number[]>;
  /** Per source index: delays (ms) of delivered packets. */
  delays: number[][];
  /** Per source: offered, delivered, dropped packets. */
  offered: number[];
  delivered: number[];
  sampleMs: number;
  durationMs: number;
  /** Wall-clock ms the simulation took. */
  wallMs: number;
  totalReleased: number;
}

/** The daemon's scheduler limits (1500-byte packets), with overrides. */
export function defaultLimits(overrides: Partial<SchedulerLimits> = {}): SchedulerLimits {
  return { ...schedulerLimits(1500), ...overrides };
}

export function simulate(opts: {
  capacityBps: number | undefined;
  share: number;
  algorithm: string;
  neighbors: NeighborSetup[];
  sources: Source[];
  durationMs: number;
  sampleMs?: number;
  stepMs?: number;
  pumpMs?: number;
  limits?: Partial<SchedulerLimits>;
  events?: SimEvent[];
  /** Inter-arrival jitter of constant and on/off sources, ± this fraction (default 0.1). */
  jitter?: number;
  /** PRNG seed (the run is reproducible). */
  seed?: number;
}): SimResult {
  const t0 = performance.now();
  const stepMs = opts.stepMs ?? 0.1;
  const pumpMs = opts.pumpMs ?? 1;
  const sampleMs = opts.sampleMs ?? 100;
  const s = new DirectionScheduler({
    capacityBps: opts.capacityBps,
    share: opts.share,
    algorithm: opts.algorithm,
    limits: defaultLimits(opts.limits),
    nowMs: 0,
  });
  for (const n of opts.neighbors) {
    s.addNeighbor(n.index, n.weight);
    if (n.capBps !== undefined) s.setCap(n.index, n.capBps, 0);
  }
  const samples = Math.ceil(opts.durationMs / sampleMs);
  const series = new Map<number, number[]>();
  for (const n of opts.neighbors) series.set(n.index, new Array<number>(samples).fill(0));
  const delays: number[][] = opts.sources.map(() => []);
  const offered = opts.sources.map(() => 0);
  const delivered = opts.sources.map(() => 0);
  const next = opts.sources.map((src) => src.startMs ?? 0);
  const burstLeft = opts.sources.map(() => 0);
  const buf = new Uint8Array(2048);
  const view = new DataView(buf.buffer);
  const events = [...(opts.events ?? [])].sort((a, b) => a.atMs - b.atMs);
  const jitter = opts.jitter ?? 0.1;
  const random = prng(opts.seed ?? 1);
  const rnd = () => random.u32() / 4294967296;
  let ev = 0;
  let now = 0;
  let nextPump = 0;
  let totalReleased = 0;
  const scratch = new Uint8Array(12);
  const scratchView = new DataView(scratch.buffer);
  const release = (nb: number, slab: Uint8Array, off: number, len: number) => {
    for (let k = 0; k < 12; k++) scratch[k] = slab[off + k] as number;
    record(nb, scratchView.getFloat64(0, true), scratchView.getUint32(8, true), len);
  };
  const record = (nb: number, arrived: number, src: number, len: number) => {
    const arr = series.get(nb);
    const k = Math.floor(now / sampleMs);
    if (arr && k < samples) arr[k] = (arr[k] as number) + len;
    delays[src]?.push(now - arrived);
    delivered[src] = (delivered[src] as number) + 1;
    totalReleased++;
  };
  for (; now < opts.durationMs; now += stepMs) {
    while (ev < events.length && (events[ev] as SimEvent).atMs <= now) (events[ev++] as SimEvent).apply(s, now);
    let arrived = false;
    // arrivals due in this step, in time order (index order would favour low indices at a full queue)
    for (;;) {
      let i = -1;
      let at = now;
      for (let k = 0; k < opts.sources.length; k++) {
        const src = opts.sources[k] as Source;
        if (src.stopMs !== undefined && (next[k] as number) >= src.stopMs) continue;
        if ((next[k] as number) <= at) {
          at = next[k] as number;
          i = k;
        }
      }
      if (i < 0) break;
      const src = opts.sources[i] as Source;
      const shape = src.shape;
      let gap: number;
      switch (shape.kind) {
        case 'constant':
          gap = ((src.bytes * 8 * 1000) / shape.rateBps) * (1 + jitter * (2 * rnd() - 1));
          break;
        case 'sparse':
          gap = shape.everyMs;
          break;
        case 'onoff': {
          gap = ((src.bytes * 8 * 1000) / shape.rateBps) * (1 + jitter * (2 * rnd() - 1));
          const cycle = shape.onMs + shape.offMs;
          const phase = (at + gap - (src.startMs ?? 0)) % cycle;
          if (phase >= shape.onMs) gap += cycle - phase;
          break;
        }
        case 'burst':
          if (burstLeft[i] === 0) burstLeft[i] = shape.packets;
          burstLeft[i] = (burstLeft[i] as number) - 1;
          gap = burstLeft[i] === 0 ? shape.everyMs : 0.001;
          break;
      }
      next[i] = at + gap;
      view.setFloat64(0, at, true);
      view.setUint32(8, i, true);
      offered[i] = (offered[i] as number) + 1;
      const v = s.offer(src.neighbor, src.own ?? false, buf, 0, src.bytes, src.flow * 2654435761, now);
      if (v === PASS) record(src.neighbor, at, i, src.bytes);
      else if (v === QUEUED) arrived = true;
    }
    if (arrived || now >= nextPump) {
      const w = s.pump(now, release);
      nextPump = now + Math.max(pumpMs, Math.ceil(w / pumpMs) * pumpMs);
    }
  }
  return {
    series,
    delays,
    offered,
    delivered,
    sampleMs,
    durationMs: opts.durationMs,
    wallMs: performance.now() - t0,
    totalReleased,
  };
}

/** Mean rate (bit/s) of a neighbour over [fromMs, toMs). */
export function meanRate(r: SimResult, neighbor: number, fromMs: number, toMs: number): number {
  const arr = r.series.get(neighbor) ?? [];
  const a = Math.floor(fromMs / r.sampleMs);
  const b = Math.floor(toMs / r.sampleMs);
  let bytes = 0;
  for (let k = a; k < b; k++) bytes += arr[k] ?? 0;
  return (bytes * 8 * 1000) / ((b - a) * r.sampleMs);
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
}
