/**
 * Traffic control's I/O shell: one DirectionScheduler per direction, plugged
 * into every tunnel's stage hooks.
 *
 *   egress:  TUN read → offer → [PASS: seal and send in place]
 *                              [queued: pump → Tunnel.transmit → flush]
 *   ingress: decrypt  → offer → [PASS: TUN write in place]
 *                              [queued: pump → Tunnel.deliver]
 *
 * pump() runs after every batch that queued something and on a timer while
 * anything waits (Node timers have 1 ms granularity; the buckets are deep
 * enough to absorb it). With no capacity and no caps configured the stages
 * are detached and the data path is the plain pass-through.
 */
import type { Logger } from '../log.js';
import type { DirectionStage, Tunnel } from '../tunnel.js';
import { flowHash, isOwn, LocalAddresses } from './classify.js';
import { DirectionScheduler, type NeighborCounters, type SchedulerLimits } from './scheduler.js';

export type Direction = 'ingress' | 'egress';

class DirectionShell implements DirectionStage {
  readonly sched: DirectionScheduler;
  private readonly tunnels: Array<Tunnel | undefined>;
  private readonly touched = new Set<Tunnel>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private queuedSinceBatch = false;
  private releaseNow = 0;

  constructor(
    readonly direction: Direction,
    private readonly tc: TrafficControl,
    sched: DirectionScheduler,
    tunnels: Array<Tunnel | undefined>,
  ) {
    this.sched = sched;
    this.tunnels = tunnels;
  }

  offer(tunnel: Tunnel, buf: Uint8Array, off: number, len: number, nowMs: number): boolean {
    const idx = tunnel.tcIndex;
    // own = originated here (egress only); everything a neighbour sends is its traffic
    const own = this.direction === 'egress' && isOwn(this.tc.local, buf, off, len);
    if (this.sched.tryPass(idx, own, len, nowMs)) return true;
    if (this.sched.enqueue(idx, own, buf, off, len, flowHash(buf, off, len), nowMs)) this.queuedSinceBatch = true;
    else tunnel.core.counters.dropQueueFull++;
    return false;
  }

  endBatch(nowMs: number): void {
    if (this.queuedSinceBatch) {
      this.queuedSinceBatch = false;
      this.pump(nowMs);
    }
  }

  private readonly release = (neighbor: number, slab: Uint8Array, off: number, len: number): void => {
    const t = this.tunnels[neighbor];
    if (t === undefined || t.closed) return;
    if (this.direction === 'egress') {
      t.transmit(slab, off, len, this.releaseNow);
      this.touched.add(t);
    } else t.deliver(slab, off, len, this.releaseNow);
  };

  pump(nowMs: number): void {
    this.releaseNow = nowMs;
    const wait = this.sched.pump(nowMs, this.release);
    for (const t of this.touched) t.flush(nowMs);
    this.touched.clear();
    this.arm(nowMs, wait);
  }

  private arm(nowMs: number, waitMs: number): void {
    if (!Number.isFinite(waitMs)) return;
    const at = nowMs + Math.max(1, waitMs);
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump(this.tc.now());
      },
      Math.max(1, Math.ceil(waitMs)),
    );
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export interface TcSettings {
  capacityBps: number | undefined;
  share: number;
  algorithm: string;
}

export interface NeighborTc {
  weight: number;
  capBps: number | undefined;
}

export interface TcNeighborStats {
  queue: { ingress: { packets: number; bytes: number }; egress: { packets: number; bytes: number } };
  ingress: NeighborCounters;
  egress: NeighborCounters;
}

export class TrafficControl {
  readonly local = new LocalAddresses();
  readonly ingress: DirectionShell;
  readonly egress: DirectionShell;
  private readonly tunnels: Array<Tunnel | undefined> = [];
  private readonly free: number[] = [];
  private readonly perTunnel = new Map<Tunnel, NeighborTc>();
  private settingsNow: TcSettings;

  constructor(
    settings: TcSettings,
    limits: SchedulerLimits,
    readonly now: () => number,
    private readonly log: Logger,
  ) {
    this.settingsNow = { ...settings };
    const make = (d: Direction) =>
      new DirectionShell(
        d,
        this,
        new DirectionScheduler({
          capacityBps: settings.capacityBps,
          share: settings.share,
          algorithm: settings.algorithm,
          limits,
          nowMs: now(),
        }),
        this.tunnels,
      );
    this.ingress = make('ingress');
    this.egress = make('egress');
  }

  get settings(): TcSettings {
    return { ...this.settingsNow };
  }

  /** Whether any rate limit exists (otherwise tunnels run the plain pass-through). */
  get enabled(): boolean {
    if (this.settingsNow.capacityBps !== undefined) return true;
    for (const s of this.perTunnel.values()) if (s.capBps !== undefined) return true;
    return false;
  }

  private both(f: (s: DirectionScheduler) => void): void {
    f(this.ingress.sched);
    f(this.egress.sched);
  }

  /** Puts a new tunnel under traffic control. */
  attach(t: Tunnel, s: NeighborTc): void {
    const idx = this.free.pop() ?? this.tunnels.length;
    t.tcIndex = idx;
    this.tunnels[idx] = t;
    this.perTunnel.set(t, { ...s });
    const now = this.now();
    this.both((sc) => {
      sc.addNeighbor(idx, s.weight);
      if (s.capBps !== undefined) sc.setCap(idx, s.capBps, now);
    });
    this.refreshStages();
  }

  detach(t: Tunnel): void {
    const idx = t.tcIndex;
    if (idx < 0 || this.tunnels[idx] !== t) return;
    let dropped = 0;
    this.both((sc) => {
      dropped += sc.removeNeighbor(idx);
    });
    if (dropped > 0) this.log.debug('dropped queued packets of a closed tunnel', { tun: t.name, packets: dropped });
    this.tunnels[idx] = undefined;
    this.free.push(idx);
    this.perTunnel.delete(t);
    t.tcIndex = -1;
    t.ingress = null;
    t.egress = null;
    t.syncExpress();
    this.refreshStages();
  }

  setWeight(t: Tunnel, weight: number): void {
    const s = this.perTunnel.get(t);
    if (!s) return;
    s.weight = weight;
    this.both((sc) => sc.setWeight(t.tcIndex, weight));
  }

  setCap(t: Tunnel, bps: number | undefined): void {
    const s = this.perTunnel.get(t);
    if (!s) return;
    s.capBps = bps;
    const now = this.now();
    this.both((sc) => sc.setCap(t.tcIndex, bps, now));
    this.refreshStages();
  }

  setCapacity(bps: number | undefined): void {
    this.settingsNow.capacityBps = bps;
    const now = this.now();
    this.both((sc) => sc.setCapacity(bps, now));
    this.refreshStages();
  }

  setShare(share: number): void {
    this.settingsNow.share = share;
    const now = this.now();
    this.both((sc) => sc.setShare(share, now));
    this.kick();
  }

  setAlgorithm(name: string): void {
    this.both((sc) => sc.setAlgorithm(name));
    this.settingsNow.algorithm = name;
    this.kick();
  }

  /** Re-run the pumps now (a setting may have released or held packets). */
  private kick(): void {
    const now = this.now();
    this.ingress.pump(now);
    this.egress.pump(now);
  }

  /** Attaches or detaches the stages on every tunnel according to `enabled`. */
  private refreshStages(): void {
    const on = this.enabled;
    if (!on) this.kick(); // let anything queued go before going pass-through
    for (const t of this.tunnels) {
      if (!t) continue;
      t.ingress = on ? this.ingress : null;
      t.egress = on ? this.egress : null;
      t.syncExpress(); // the native lone-packet path only runs where no stage is
    }
    if (on) this.kick();
  }

  neighborStats(t: Tunnel): TcNeighborStats | undefined {
    const idx = t.tcIndex;
    const i = this.ingress.sched.counters(idx);
    const e = this.egress.sched.counters(idx);
    if (!i || !e) return undefined;
    return {
      queue: { ingress: this.ingress.sched.queueDepth(idx), egress: this.egress.sched.queueDepth(idx) },
      ingress: { ...i },
      egress: { ...e },
    };
  }

  neighborSettings(t: Tunnel): NeighborTc | undefined {
    const s = this.perTunnel.get(t);
    return s ? { ...s } : undefined;
  }

  close(): void {
    this.ingress.close();
    this.egress.close();
  }
}
