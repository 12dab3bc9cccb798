/**
 * Storage for packets that wait in a traffic-control queue. Slots of a fixed
 * size in slabs allocated on demand (up to a byte bound), a free list, and
 * per-slot metadata in typed arrays: no object per packet, nothing for the
 * GC. Each slot keeps HEADER_BYTES of headroom and TAG_BYTES of tailroom so a
 * released packet can be sealed in place.
 */
import { HEADER_BYTES, TAG_BYTES } from '../packet.js';

const CHUNK_SLOTS = 256;

export class PacketPool {
  readonly slotSize: number;
  readonly maxSlots: number;
  /** Largest payload a slot holds. */
  readonly maxPacket: number;
  private readonly slabs: Uint8Array[] = [];
  private readonly free: Int32Array;
  private freeTop = 0;
  private allocatedSlots = 0;
  /** Per slot: payload length, enqueue time (ms), next slot in its list (-1 = none), owner tag (tunnel index). */
  readonly len: Int32Array;
  readonly time: Float64Array;
  readonly next: Int32Array;
  readonly tag: Int32Array;
  inUse = 0;

  constructor(maxPayload: number, maxBytes: number) {
    this.slotSize = Math.ceil((HEADER_BYTES + maxPayload + TAG_BYTES) / 64) * 64;
    this.maxPacket = this.slotSize - HEADER_BYTES - TAG_BYTES;
    this.maxSlots = Math.max(CHUNK_SLOTS, Math.floor(maxBytes / this.slotSize / CHUNK_SLOTS) * CHUNK_SLOTS);
    this.free = new Int32Array(this.maxSlots);
    this.len = new Int32Array(this.maxSlots);
    this.time = new Float64Array(this.maxSlots);
    this.next = new Int32Array(this.maxSlots).fill(-1);
    this.tag = new Int32Array(this.maxSlots);
  }

  /** Copies a payload in; returns the slot or -1 if the pool is full or the packet too big. */
  store(buf: Uint8Array, off: number, len: number, nowMs: number, tag: number): number {
    if (len > this.maxPacket) return -1;
    if (this.freeTop === 0) {
      if (this.allocatedSlots >= this.maxSlots) return -1;
      this.slabs.push(new Uint8Array(CHUNK_SLOTS * this.slotSize));
      for (let i = CHUNK_SLOTS - 1; i >= 0; i--) this.free[this.freeTop++] = this.allocatedSlots + i;
      this.allocatedSlots += CHUNK_SLOTS;
    }
    const slot = this.free[--this.freeTop] as number;
    const slab = this.slabs[(slot / CHUNK_SLOTS) | 0] as Uint8Array;
    slab.set(buf.subarray(off, off + len), (slot % CHUNK_SLOTS) * this.slotSize + HEADER_BYTES);
    this.len[slot] = len;
    this.time[slot] = nowMs;
    this.next[slot] = -1;
    this.tag[slot] = tag;
    this.inUse++;
    return slot;
  }

  release(slot: number): void {
    this.free[this.freeTop++] = slot;
    this.inUse--;
  }

  slab(slot: number): Uint8Array {
    return this.slabs[(slot / CHUNK_SLOTS) | 0] as Uint8Array;
  }

  /** Offset of the payload of `slot` in slab(slot). */
  offset(slot: number): number {
    return (slot % CHUNK_SLOTS) * this.slotSize + HEADER_BYTES;
  }

  get allocatedBytes(): number {
    return this.allocatedSlots * this.slotSize;
  }
}
