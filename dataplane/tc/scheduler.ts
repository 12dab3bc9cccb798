/**
 * One direction's traffic control (DESIGN.md, "Traffic control"), pure:
 * time is an argument, packets live in a PacketPool, releases go to a
 * callback.
 *
 *   root bucket: capacity C (all traffic)
 *    ├─ own traffic: what this node originates (egress only; on ingress
 *    │  every packet is the sending neighbour's); first in line, limited
 *    │  only by C (not by share)
 *    └─ share bucket: share × C, for traffic carried for neighbours
 *        └─ neighbours: algorithm orders them (weights), each with an
 *           optional cap bucket and its own fair-queued CoDel queue
 *
 * Fast path: while nothing is queued and the buckets allow, a packet is
 * charged and passed in place (no copy). Otherwise it is stored and pump()
 * releases packets as fast as the buckets refill, in the algorithm's order.
 *
 * Rates count inner IP bytes (what the TUN devices carry).
 */
import { DataplaneError } from '../errors.js';
import type { SchedNeighbor, SchedulingAlgorithm } from './algorithm.js';
import { ALGORITHMS } from './algorithms/index.js';
import { TokenBucket } from './bucket.js';
import { FlowQueue, type FlowQueueOptions } from './flowqueue.js';
import { PacketPool } from './pool.js';

export const PASS = 0;
export const QUEUED = 1;
export const DROPPED = 2;
export type Verdict = typeof PASS | typeof QUEUED | typeof DROPPED;

export interface SchedulerLimits {
  queuePackets: number;
  queueBytes: number;
  totalQueueBytes: number;
  flows: number;
  targetMs: number;
  intervalMs: number;
  bucketDepthMs: number;
  /** Bytes per DRR round for weight 1, and the minimum bucket depth. */
  quantumBytes: number;
  /** Largest packet stored. */
  maxPacket: number;
}

export interface NeighborCounters {
  /** Packets/bytes that went through (passed or released). */
  packets: number;
  bytes: number;
  /** Dropped because the queue (or the pool) was full. */
  dropQueueFull: number;
  /** Dropped by CoDel (standing delay). */
  dropCodel: number;
}

class Neighbor implements SchedNeighbor {
  weight: number;
  deficit = 0;
  cap: TokenBucket | undefined;
  readonly queue: FlowQueue;
  active = false;
  readonly counters: NeighborCounters = { packets: 0, bytes: 0, dropQueueFull: 0, dropCodel: 0 };
  constructor(
    readonly index: number,
    weight: number,
    queue: FlowQueue,
  ) {
    this.weight = weight;
    this.queue = queue;
  }
  oldest(): number {
    return this.queue.oldest();
  }
}

export type Release = (neighbor: number, slab: Uint8Array, off: number, len: number) => void;

export class DirectionScheduler {
  readonly pool: PacketPool;
  private readonly limits: SchedulerLimits;
  private readonly neighbors: Array<Neighbor | undefined> = [];
  private readonly own: FlowQueue;
  private root: TokenBucket | undefined;
  private shareBucket: TokenBucket | undefined;
  private capacityBps: number | undefined;
  private share: number;
  private algorithm: SchedulingAlgorithm;
  private activeCount = 0;
  private now = 0;
  private readonly eligible = (n: SchedNeighbor): boolean => {
    const c = (n as Neighbor).cap;
    return c === undefined || c.ready(this.now);
  };
  /** Own traffic's counters. */
  readonly ownCounters: NeighborCounters = { packets: 0, bytes: 0, dropQueueFull: 0, dropCodel: 0 };
  /** Neighbours attached. */
  private count = 0;
  /** Packets each queue may hold (its slice of the pool; see reslice). */
  slice = 0;

  constructor(opts: {
    capacityBps: number | undefined;
    share: number;
    algorithm: string;
    limits: SchedulerLimits;
    nowMs: number;
  }) {
    this.limits = opts.limits;
    this.pool = new PacketPool(opts.limits.maxPacket, opts.limits.totalQueueBytes);
    this.share = opts.share;
    this.algorithm = this.makeAlgorithm(opts.algorithm);
    this.own = new FlowQueue(this.pool, this.queueOptions(true));
    this.reslice();
    this.own.onDrop = (slot, reason) => {
      const n = this.neighbors[this.pool.tag[slot] as number];
      const c = n?.counters ?? this.ownCounters;
      if (reason === 'overflow') c.dropQueueFull++;
      else c.dropCodel++;
    };
    this.setCapacity(opts.capacityBps, opts.nowMs);
  }

  private makeAlgorithm(name: string): SchedulingAlgorithm {
    const f = ALGORITHMS[name];
    if (!f)
      throw new DataplaneError(
        'ERR_INVALID_ARGUMENT',
        `unknown scheduler "${name}" (known: ${Object.keys(ALGORITHMS).join(', ')})`,
      );
    return f({ quantumBytes: this.limits.quantumBytes });
  }

  private queueOptions(fq: boolean): FlowQueueOptions {
    const l = this.limits;
    return {
      flows: l.flows,
      quantum: l.quantumBytes,
      targetMs: l.targetMs,
      intervalMs: l.intervalMs,
      maxPackets: l.queuePackets,
      maxBytes: l.queueBytes,
      fq,
      codel: fq,
    };
  }

  // --- settings (take effect at once) -------------------------------------------------------

  get settings(): { capacityBps: number | undefined; share: number } {
    return { capacityBps: this.capacityBps, share: this.share };
  }

  setCapacity(bps: number | undefined, nowMs: number): void {
    this.capacityBps = bps;
    const l = this.limits;
    if (bps === undefined) {
      this.root = undefined;
      this.shareBucket = undefined;
      return;
    }
    if (this.root) this.root.setRate(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
    else this.root = new TokenBucket(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
    this.setShare(this.share, nowMs);
  }

  setShare(share: number, nowMs: number): void {
    this.share = share;
    const l = this.limits;
    if (this.capacityBps === undefined || share >= 1) {
      this.shareBucket = undefined;
      return;
    }
    const bps = Math.max(this.capacityBps * share, 1);
    if (this.shareBucket) this.shareBucket.setRate(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
    else this.shareBucket = new TokenBucket(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
    if (share === 0) this.shareBucket.tokens = -Number.MAX_SAFE_INTEGER; // nothing forwarded at all
  }

  setAlgorithm(name: string): void {
    const next = this.makeAlgorithm(name);
    for (const n of this.neighbors) {
      if (!n) continue;
      if (n.active) this.algorithm.deactivate(n);
      n.queue.fq = next.fairQueueing;
      n.queue.codel = next.fairQueueing;
    }
    this.algorithm = next;
    for (const n of this.neighbors) if (n?.active) next.activate(n);
  }

  addNeighbor(index: number, weight: number): void {
    if (this.neighbors[index]) throw new Error(`neighbour ${index} exists`);
    const n = new Neighbor(index, weight, new FlowQueue(this.pool, this.queueOptions(this.algorithm.fairQueueing)));
    n.queue.onDrop = (_slot, reason) => {
      if (reason === 'overflow') n.counters.dropQueueFull++;
      else n.counters.dropCodel++;
    };
    this.neighbors[index] = n;
    this.count++;
    this.reslice();
  }

  /**
   * Every queue (each neighbour's and our own) gets an equal slice of the
   * shared pool's slots, at most queuePackets: the queues together can never
   * exhaust the pool, so no neighbour, however many small packets it sends,
   * takes the room of another. Recomputed as neighbours come and go.
   */
  private reslice(): void {
    const slice = Math.max(1, Math.min(this.limits.queuePackets, Math.floor(this.pool.maxSlots / (this.count + 1))));
    this.slice = slice;
    this.own.maxPackets = slice;
    for (const n of this.neighbors) if (n) n.queue.maxPackets = slice;
  }

  /** Forgets a neighbour and drops what it had queued (returns how many). */
  removeNeighbor(index: number): number {
    const n = this.neighbors[index];
    if (!n) return 0;
    if (n.active) this.deactivate(n);
    this.neighbors[index] = undefined;
    this.count--;
    const dropped = n.queue.clear();
    this.reslice();
    return dropped;
  }

  setWeight(index: number, weight: number): void {
    const n = this.neighbors[index];
    if (n) n.weight = weight;
  }

  /** A cap in bit/s, or undefined for none. */
  setCap(index: number, bps: number | undefined, nowMs: number): void {
    const n = this.neighbors[index];
    if (!n) return;
    const l = this.limits;
    if (bps === undefined) n.cap = undefined;
    else if (n.cap) n.cap.setRate(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
    else n.cap = new TokenBucket(bps, l.bucketDepthMs, 2 * l.quantumBytes, nowMs);
  }

  counters(index: number): NeighborCounters | undefined {
    return this.neighbors[index]?.counters;
  }

  queueDepth(index: number): { packets: number; bytes: number } {
    const n = this.neighbors[index];
    return n ? { packets: n.queue.packets, bytes: n.queue.bytes } : { packets: 0, bytes: 0 };
  }

  get queuedPackets(): number {
    return this.pool.inUse;
  }

  // --- packets --------------------------------------------------------------------------------

  private activate(n: Neighbor): void {
    n.active = true;
    this.activeCount++;
    this.algorithm.activate(n);
  }

  private deactivate(n: Neighbor): void {
    n.active = false;
    this.activeCount--;
    this.algorithm.deactivate(n);
  }

  /**
   * The fast path: if nothing is queued and the buckets allow, charge them and
   * return true (the packet goes now, in place). Otherwise the caller must
   * enqueue() it.
   */
  tryPass(index: number, own: boolean, len: number, nowMs: number): boolean {
    if (this.pool.inUse !== 0) return false;
    const n = this.neighbors[index];
    if (!n) return false;
    const root = this.root;
    if (root !== undefined && !root.ready(nowMs)) return false;
    if (own) {
      root?.take(len);
      this.ownCounters.packets++;
      this.ownCounters.bytes += len;
      return true;
    }
    const sb = this.shareBucket;
    const cap = n.cap;
    if ((sb !== undefined && !sb.ready(nowMs)) || (cap !== undefined && !cap.ready(nowMs))) return false;
    root?.take(len);
    sb?.take(len);
    cap?.take(len);
    n.counters.packets++;
    n.counters.bytes += len;
    return true;
  }

  /** Stores a packet in its queue; pump() releases it. False if it was dropped (counted). */
  enqueue(
    index: number,
    own: boolean,
    buf: Uint8Array,
    off: number,
    len: number,
    hash: number,
    nowMs: number,
  ): boolean {
    const n = this.neighbors[index];
    if (!n) return false;
    this.now = nowMs;
    const slot = this.pool.store(buf, off, len, nowMs, index);
    if (slot < 0) {
      (own ? this.ownCounters : n.counters).dropQueueFull++;
      return false;
    }
    if (own) {
      this.own.enqueue(slot, hash); // an overflow drops the fattest flow's head, counted per neighbour
      return true;
    }
    if (!this.algorithm.fairQueueing && this.pool.inUse - this.own.packets > this.limits.queuePackets) {
      // FIFO baseline: one shared tail-drop queue, not one per neighbour
      this.pool.release(slot);
      n.counters.dropQueueFull++;
      return false;
    }
    n.queue.enqueue(slot, hash);
    if (!n.active && !n.queue.empty) this.activate(n);
    return true;
  }

  /** tryPass, else enqueue: PASS, QUEUED or DROPPED. */
  offer(index: number, own: boolean, buf: Uint8Array, off: number, len: number, hash: number, nowMs: number): Verdict {
    if (!this.neighbors[index]) return DROPPED;
    if (this.tryPass(index, own, len, nowMs)) return PASS;
    return this.enqueue(index, own, buf, off, len, hash, nowMs) ? QUEUED : DROPPED;
  }

  /**
   * Releases queued packets as far as the buckets allow, calling `release`
   * for each (the slab is valid until the next offer()). Returns the ms until
   * more can go (0: call again now, Infinity: nothing queued).
   */
  pump(nowMs: number, release: Release, budget = 4096): number {
    this.now = nowMs;
    const pool = this.pool;
    for (let sent = 0; sent < budget; sent++) {
      if (pool.inUse === 0) return Number.POSITIVE_INFINITY;
      const root = this.root;
      if (root !== undefined && !root.ready(nowMs)) return root.waitMs(nowMs);
      if (!this.own.empty) {
        const s = this.own.dequeue(nowMs);
        if (s >= 0) {
          const len = pool.len[s] as number;
          root?.take(len);
          this.ownCounters.packets++;
          this.ownCounters.bytes += len;
          release(pool.tag[s] as number, pool.slab(s), pool.offset(s), len);
          pool.release(s);
          continue;
        }
      }
      if (this.activeCount === 0) {
        if (this.own.empty) return Number.POSITIVE_INFINITY; // (CoDel may have emptied the own queue)
        continue;
      }
      const sb = this.shareBucket;
      if (sb !== undefined && !sb.ready(nowMs)) return this.share === 0 ? Number.POSITIVE_INFINITY : sb.waitMs(nowMs);
      const pick = this.algorithm.pick(this.eligible) as Neighbor | undefined;
      if (pick === undefined) return this.capWait(nowMs);
      const s = pick.queue.dequeue(nowMs);
      if (s < 0) {
        this.deactivate(pick);
        continue;
      }
      const len = pool.len[s] as number;
      root?.take(len);
      sb?.take(len);
      pick.cap?.take(len);
      this.algorithm.sent(pick, len);
      pick.counters.packets++;
      pick.counters.bytes += len;
      if (pick.queue.empty) this.deactivate(pick);
      release(pick.index, pool.slab(s), pool.offset(s), len);
      pool.release(s);
    }
    return 0;
  }

  /** All backlogged neighbours are capped out: until the first cap refills. */
  private capWait(nowMs: number): number {
    let w = Number.POSITIVE_INFINITY;
    for (const n of this.neighbors) if (n?.active && n.cap) w = Math.min(w, n.cap.waitMs(nowMs));
    return w;
  }
}
