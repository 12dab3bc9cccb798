/** An in-memory datagram network for pure-core tests: delay, reorder, duplicate, drop. */
export interface Datagram {
  to: string;
  data: Uint8Array;
  at: number;
}

export class MemNet {
  private queue: Datagram[] = [];
  constructor(private readonly rnd: () => number = Math.random) {}
  lossRate = 0;
  dupRate = 0;
  /** Max extra delay (ms) added at random: causes reordering. */
  jitterMs = 0;
  delayMs = 1;
  delivered = 0;
  dropped = 0;

  send(to: string, data: Uint8Array, nowMs: number): void {
    if (this.rnd() < this.lossRate) {
      this.dropped++;
      return;
    }
    const copies = this.rnd() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.queue.push({ to, data: Uint8Array.from(data), at: nowMs + this.delayMs + this.rnd() * this.jitterMs });
    }
  }

  /** Datagrams due at `nowMs`, in delivery order. */
  due(nowMs: number): Datagram[] {
    const ready = this.queue.filter((d) => d.at <= nowMs).sort((a, b) => a.at - b.at);
    this.queue = this.queue.filter((d) => d.at > nowMs);
    this.delivered += ready.length;
    return ready;
  }

  get inFlight(): number {
    return this.queue.length;
  }
}
