/**
 * One neighbour's queue for one direction: inner flows queued fairly with
 * CoDel delay control, in the manner of fq_codel (RFC 8290), so one bulk flow
 * cannot add seconds of delay to the same neighbour's interactive traffic.
 *
 * - Packets hash to one of `flows` buckets (addresses, protocol, ports).
 * - Deficit round robin among backlogged buckets, quantum one MTU-sized
 *   frame; a bucket that becomes backlogged goes on the "new" list, served
 *   before the "old" list (sparse flows, like a ping, jump the bulk).
 * - CoDel per bucket (RFC 8289): once packets have waited longer than
 *   `targetMs` for at least `intervalMs`, drop at intervals shrinking with
 *   1/sqrt(drops) until the delay is under target again.
 * - Bounded by packets and bytes; on overflow the head of the fattest bucket
 *   is dropped (the newcomer is not the culprit).
 * - As a plain FIFO (fq and CoDel off: the FIFO scheduler) it tail-drops.
 *
 * Pure: time is an argument; packet bytes live in a PacketPool.
 */
import { WIRE } from '../../base/constants.js';
import type { PacketPool } from './pool.js';

export interface FlowQueueOptions {
  flows: number;
  /** DRR quantum among inner flows (bytes). */
  quantum: number;
  targetMs: number;
  intervalMs: number;
  maxPackets: number;
  maxBytes: number;
  fq: boolean;
  codel: boolean;
}

const NONE = 0;
const NEW = 1;
const OLD = 2;
/** CoDel's maxpacket: a queue of about one packet is never "above target". */

export class FlowQueue {
  packets = 0;
  bytes = 0;
  dropsOverflow = 0;
  dropsCodel = 0;
  fq: boolean;
  codel: boolean;
  /** Packet bound (the scheduler sets it: the queue's slice of the shared pool). */
  maxPackets: number;
  private readonly pool: PacketPool;
  private readonly o: FlowQueueOptions;
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  private readonly flowBytes: Int32Array;
  private readonly deficit: Int32Array;
  private readonly list: Uint8Array;
  private readonly listNext: Int32Array;
  private newHead = -1;
  private newTail = -1;
  private oldHead = -1;
  private oldTail = -1;
  // CoDel state per flow
  private readonly firstAbove: Float64Array;
  private readonly dropNext: Float64Array;
  private readonly dropCount: Int32Array;
  private readonly lastCount: Int32Array;
  private readonly dropping: Uint8Array;
  /** Called for every packet this queue drops (slot still valid during the call). */
  onDrop: ((slot: number, reason: 'overflow' | 'codel') => void) | undefined;

  constructor(pool: PacketPool, opts: FlowQueueOptions) {
    this.pool = pool;
    this.o = opts;
    this.fq = opts.fq;
    this.codel = opts.codel;
    this.maxPackets = opts.maxPackets;
    const n = opts.flows;
    this.head = new Int32Array(n).fill(-1);
    this.tail = new Int32Array(n).fill(-1);
    this.flowBytes = new Int32Array(n);
    this.deficit = new Int32Array(n);
    this.list = new Uint8Array(n);
    this.listNext = new Int32Array(n).fill(-1);
    this.firstAbove = new Float64Array(n);
    this.dropNext = new Float64Array(n);
    this.dropCount = new Int32Array(n);
    this.lastCount = new Int32Array(n);
    this.dropping = new Uint8Array(n);
  }

  get empty(): boolean {
    return this.packets === 0;
  }

  /**
   * Appends a stored packet. Returns false if the queue had to drop: with
   * fair queueing the head of the fattest flow (fq_codel), as a plain FIFO
   * the newcomer (pfifo tail drop; head drop would starve a FIFO queue
   * against an oldest-first scheduler).
   */
  enqueue(slot: number, hash: number): boolean {
    const f = this.fq ? hash % this.o.flows : 0;
    const p = this.pool;
    const len = p.len[slot] as number;
    if (!this.fq && (this.packets + 1 > this.maxPackets || this.bytes + len > this.o.maxBytes)) {
      this.dropsOverflow++;
      this.onDrop?.(slot, 'overflow');
      p.release(slot);
      return false;
    }
    if (this.head[f] === -1) this.head[f] = slot;
    else p.next[this.tail[f] as number] = slot;
    this.tail[f] = slot;
    p.next[slot] = -1;
    this.flowBytes[f] = (this.flowBytes[f] as number) + len;
    this.packets++;
    this.bytes += len;
    if (this.list[f] === NONE) {
      this.list[f] = NEW;
      this.deficit[f] = this.o.quantum;
      this.listNext[f] = -1;
      if (this.newTail === -1) this.newHead = f;
      else this.listNext[this.newTail] = f;
      this.newTail = f;
    }
    let ok = true;
    while (this.packets > this.maxPackets || this.bytes > this.o.maxBytes) {
      this.dropFattest();
      ok = false;
    }
    return ok;
  }

  private dropFattest(): void {
    let fat = 0;
    for (let f = 1; f < this.o.flows; f++) if ((this.flowBytes[f] as number) > (this.flowBytes[fat] as number)) fat = f;
    const slot = this.popHead(fat);
    if (slot < 0) return;
    this.dropsOverflow++;
    this.onDrop?.(slot, 'overflow');
    this.pool.release(slot);
  }

  private popHead(f: number): number {
    const slot = this.head[f] as number;
    if (slot < 0) return -1;
    const p = this.pool;
    const nx = p.next[slot] as number;
    this.head[f] = nx;
    if (nx === -1) this.tail[f] = -1;
    const len = p.len[slot] as number;
    this.flowBytes[f] = (this.flowBytes[f] as number) - len;
    this.packets--;
    this.bytes -= len;
    return slot;
  }

  /** The packet to send next (its slot; the caller releases it), or -1. CoDel drops happen here. */
  dequeue(nowMs: number): number {
    for (;;) {
      let f: number;
      let fromNew: boolean;
      if (this.newHead !== -1) {
        f = this.newHead;
        fromNew = true;
      } else if (this.oldHead !== -1) {
        f = this.oldHead;
        fromNew = false;
      } else return -1;
      if ((this.deficit[f] as number) <= 0) {
        this.deficit[f] = (this.deficit[f] as number) + this.o.quantum;
        this.toOldTail(f, fromNew);
        continue;
      }
      const slot = this.codel ? this.codelDequeue(f, nowMs) : this.popHead(f);
      if (slot < 0) {
        if (fromNew && this.oldHead !== -1) this.toOldTail(f, true);
        else this.unlink(f, fromNew);
        continue;
      }
      this.deficit[f] = (this.deficit[f] as number) - (this.pool.len[slot] as number);
      return slot;
    }
  }

  /** Moves f (the head of its list) to the tail of the old list. */
  private toOldTail(f: number, fromNew: boolean): void {
    this.popList(fromNew);
    this.list[f] = OLD;
    this.listNext[f] = -1;
    if (this.oldTail === -1) this.oldHead = f;
    else this.listNext[this.oldTail] = f;
    this.oldTail = f;
  }

  private unlink(f: number, fromNew: boolean): void {
    this.popList(fromNew);
    this.list[f] = NONE;
  }

  private popList(fromNew: boolean): void {
    if (fromNew) {
      const f = this.newHead;
      this.newHead = this.listNext[f] as number;
      if (this.newHead === -1) this.newTail = -1;
    } else {
      const f = this.oldHead;
      this.oldHead = this.listNext[f] as number;
      if (this.oldHead === -1) this.oldTail = -1;
    }
  }

  private okToDrop(f: number, slot: number, nowMs: number): boolean {
    const sojourn = nowMs - (this.pool.time[slot] as number);
    if (sojourn < this.o.targetMs || (this.flowBytes[f] as number) <= WIRE.ethernetFrameBytes) {
      this.firstAbove[f] = 0;
      return false;
    }
    if (this.firstAbove[f] === 0) {
      this.firstAbove[f] = nowMs + this.o.intervalMs;
      return false;
    }
    return nowMs >= (this.firstAbove[f] as number);
  }

  private controlLaw(t: number, count: number): number {
    return t + this.o.intervalMs / Math.sqrt(count);
  }

  private drop(slot: number): void {
    this.dropsCodel++;
    this.onDrop?.(slot, 'codel');
    this.pool.release(slot);
  }

  /** RFC 8289 dequeue for one flow. */
  private codelDequeue(f: number, nowMs: number): number {
    let slot = this.popHead(f);
    if (slot < 0) {
      this.dropping[f] = 0;
      return -1;
    }
    let ok = this.okToDrop(f, slot, nowMs);
    if (this.dropping[f]) {
      if (!ok) this.dropping[f] = 0;
      else {
        while (nowMs >= (this.dropNext[f] as number) && this.dropping[f]) {
          this.drop(slot);
          this.dropCount[f] = (this.dropCount[f] as number) + 1;
          slot = this.popHead(f);
          if (slot < 0) {
            this.dropping[f] = 0;
            return -1;
          }
          ok = this.okToDrop(f, slot, nowMs);
          if (!ok) this.dropping[f] = 0;
          else this.dropNext[f] = this.controlLaw(this.dropNext[f] as number, this.dropCount[f]);
        }
      }
    } else if (ok) {
      this.drop(slot);
      slot = this.popHead(f);
      this.dropping[f] = 1;
      const delta = (this.dropCount[f] as number) - (this.lastCount[f] as number);
      this.dropCount[f] = delta > 1 && nowMs - (this.dropNext[f] as number) < 16 * this.o.intervalMs ? delta : 1;
      this.lastCount[f] = this.dropCount[f];
      this.dropNext[f] = this.controlLaw(nowMs, this.dropCount[f]);
      if (slot < 0) {
        this.dropping[f] = 0;
        return -1;
      }
    }
    return slot;
  }

  /** Arrival time of the oldest queued packet (for the FIFO scheduler); Infinity if empty. */
  oldest(): number {
    let t = Number.POSITIVE_INFINITY;
    if (this.packets === 0) return t;
    for (let f = 0; f < this.o.flows; f++) {
      const s = this.head[f] as number;
      if (s >= 0 && (this.pool.time[s] as number) < t) t = this.pool.time[s] as number;
    }
    return t;
  }

  /** Drops everything (the neighbour went away). Returns the number of packets dropped. */
  clear(): number {
    let n = 0;
    for (let f = 0; f < this.o.flows; f++) {
      for (let s = this.popHead(f); s >= 0; s = this.popHead(f)) {
        this.pool.release(s);
        n++;
      }
      this.list[f] = NONE;
    }
    this.newHead = this.newTail = this.oldHead = this.oldTail = -1;
    return n;
  }
}
