/**
 * One UDP socket per mesh interface, shared by every tunnel on it and
 * demultiplexed by session id (as WireGuard does; DESIGN.md, control flow
 * item 6). A tunnel owns no socket: a key that has not finished its handshake
 * costs a map entry here, not a file descriptor.
 *
 *   UDP fd ──recvmmsg (GRO split)──▶ udpSlab ──▶ for each run of datagrams with
 *   sessions of one tunnel: Tunnel.receive(from, to)
 *
 * A datagram whose session id no tunnel holds is dropped and counted here
 * (dropUnknownSession) before any crypto: it creates no state and costs one
 * map lookup.
 */
import { type ScroogeError } from '../base/errors.js';
import { DataplaneError } from './errors.js';
import { KIND_UDP, type NativePort, native, nativeError, PortStat } from './native.js';
import { MSG_DATA, readU32LE, TUNNEL_OVERHEAD } from './packet.js';
import type { DataplaneContext, SessionReceiver } from './shared.js';

const EIO = 5;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const META = 4;

export interface TunnelSocketOptions {
  /** UDP port; 0 (default) lets the kernel pick a free one. */
  port?: number;
  /** SO_BINDTODEVICE: the mesh interface this socket serves. */
  device?: string;
  /** Called once when the socket fails for good (its tunnels have already been failed). */
  onFailure?: (socket: TunnelSocket, error: ScroogeError) => void;
  /**
   * A scratch socket for the latency keeper (dataplane.ts): no file descriptor, nothing
   * polled or sent; the keeper hands its batch callback a sealed scratch datagram so the
   * receive path's code stays warm between real packets.
   */
  scratch?: boolean;
}

/** The Port of a scratch socket: nothing to poll. */
const NO_PORT: NativePort = { start() {}, stop() {}, pollNow: () => 0, readNow: () => 0, close() {} };

export class SocketCounters {
  /** Too short or not a data packet (type ≠ 1). */
  dropMalformed = 0;
  /** No tunnel on this socket holds the session id. */
  dropUnknownSession = 0;
  /** A new session's id was already held by another tunnel here (that handshake is retried). */
  sessionCollisions = 0;
}

export class TunnelSocket {
  readonly dp: DataplaneContext;
  readonly fd: number;
  readonly port: number;
  readonly device: string | undefined;
  /** UDP GSO: switched off for good at the first EIO/EINVAL on a segmented send. */
  gso: boolean;
  readonly gro: boolean;
  readonly stats: Float64Array;
  readonly counters = new SocketCounters();
  /** Tunnels that use this socket. */
  readonly tunnels = new Set<SessionReceiver>();
  closed = false;
  private readonly bySession = new Map<number, SessionReceiver>();
  private readonly handle: NativePort;
  private readonly opts: TunnelSocketOptions;

  constructor(dp: DataplaneContext, opts: TunnelSocketOptions) {
    this.dp = dp;
    this.opts = opts;
    this.device = opts.device;
    const n = native();
    this.stats = new Float64Array(n.STATS_SLOTS);
    if (opts.scratch) {
      this.fd = -1;
      this.port = 0;
      this.gso = false;
      this.gro = false;
      this.handle = NO_PORT;
      return;
    }
    let udp: { fd: number; port: number; gso: boolean; gro: boolean };
    try {
      udp = n.udpOpen({
        family: 6,
        port: opts.port ?? 0,
        v6only: false,
        gro: dp.wantGro,
        rcvbuf: dp.socketBuffer,
        sndbuf: dp.socketBuffer,
        ...(opts.device ? { device: opts.device } : {}),
      });
    } catch (e) {
      throw nativeError(
        'ERR_SOCKET',
        `cannot open the tunnel UDP socket${opts.device ? ` on ${opts.device}` : ''} (port ${opts.port ?? 0})`,
        e,
      );
    }
    this.fd = udp.fd;
    this.port = udp.port;
    this.gso = dp.wantGso && udp.gso;
    this.gro = udp.gro;
    try {
      // The Port owns the fd from here: closing it stops polling, then closes the fd.
      this.handle = new n.Port(
        {
          kind: KIND_UDP,
          fd: udp.fd,
          slab: dp.udpSlab,
          meta: dp.udpMeta,
          stats: this.stats,
          addrs: dp.udpAddrs,
          slotSize: dp.udpSlot,
          headroom: 0,
          tailroom: 0,
          maxBatch: dp.udpBatch,
        },
        this.onBatch,
      );
    } catch (e) {
      n.closeFd(udp.fd);
      throw nativeError('ERR_SOCKET', 'cannot poll the tunnel UDP socket', e);
    }
    try {
      this.handle.start();
    } catch (e) {
      this.handle.close();
      throw nativeError('ERR_SOCKET', 'cannot poll the tunnel UDP socket', e);
    }
  }

  /** The polled socket (the native lone-packet path of its tunnels registers with it). */
  get nativePort(): NativePort {
    return this.handle;
  }

  // --- the session index ------------------------------------------------------------------

  /** May `t` take session id `id` here (no other tunnel holds it)? */
  available(id: number, t: SessionReceiver): boolean {
    const owner = this.bySession.get(id >>> 0);
    return owner === undefined || owner === t;
  }

  /** Makes the index hold exactly `now` for `t` (its previous ids were `before`). */
  reindex(t: SessionReceiver, before: readonly number[], now: readonly number[]): void {
    for (const id of before) if (!now.includes(id) && this.bySession.get(id) === t) this.bySession.delete(id);
    for (const id of now) if (!this.bySession.has(id)) this.bySession.set(id, t);
  }

  /** Sessions indexed (for status and tests). */
  get sessions(): number {
    return this.bySession.size;
  }

  // --- receive ----------------------------------------------------------------------------

  /** The latency keeper's entry: a batch of n datagrams already in the shared UDP slab (scratch sockets only). */
  exerciseBatch(n: number): void {
    if (this.opts.scratch) this.onBatch(n);
  }

  private readonly onBatch = (n: number): void => {
    if (n < 0) {
      this.fail(`UDP receive failed (${native().errnoName(n)})`);
      return;
    }
    const dp = this.dp;
    const now = dp.now();
    const slab = dp.udpSlab;
    const meta = dp.udpMeta;
    const index = this.bySession;
    const c = this.counters;
    let run: SessionReceiver | undefined;
    let runStart = 0;
    for (let e = 0; e < n; e++) {
      const off = meta[e * META] as number;
      let t: SessionReceiver | undefined;
      if ((meta[e * META + 1] as number) < TUNNEL_OVERHEAD || slab[off] !== MSG_DATA) c.dropMalformed++;
      else {
        t = index.get(readU32LE(slab, off + 4));
        if (t === undefined) c.dropUnknownSession++;
      }
      if (t !== run) {
        if (run !== undefined) run.receive(runStart, e, now);
        run = t;
        runStart = e;
      }
    }
    if (run !== undefined) run.receive(runStart, n, now);
  };

  // --- send -------------------------------------------------------------------------------

  /**
   * Sends the datagrams out[from..to) (already sealed, [offset, length]
   * entries) to `peer` (an encoded sockaddr). Returns how many left.
   */
  sendList(buf: Uint8Array, out: Int32Array, from: number, to: number, peer: Uint8Array): number {
    const nat = native();
    const k = to - from;
    let sent = nat.udpSendBatch(this.fd, buf, out, from, k, peer, this.gso);
    if (sent < k && this.gso) {
      const e = nat.lastErrno();
      if (e === EIO || e === EINVAL || e === EOPNOTSUPP) {
        this.gso = false;
        this.dp.log.warn('UDP GSO failed on this path; sending without it', {
          port: this.port,
          errno: nat.errnoName(e),
        });
        sent += nat.udpSendBatch(this.fd, buf, out, from + sent, k - sent, peer, false);
      }
    }
    return sent;
  }

  /** One datagram; returns the byte count or a negative errno. */
  sendTo(buf: Uint8Array, off: number, len: number, peer: Uint8Array): number {
    return native().udpSendTo(this.fd, buf, off, len, peer);
  }

  // --- lifecycle ----------------------------------------------------------------------------

  private fail(reason: string): void {
    if (this.closed) return;
    const err = new DataplaneError('ERR_SOCKET', `tunnel socket port ${this.port}: ${reason}`);
    this.dp.log.error('tunnel socket failed', { port: this.port, reason });
    for (const t of [...this.tunnels]) t.socketFailed(reason);
    this.close();
    this.opts.onFailure?.(this, err);
  }

  /** Closes the socket (its tunnels must be closed first; a tunnel left over is closed too). */
  close(): void {
    if (this.closed) return;
    for (const t of [...this.tunnels]) t.close();
    this.closed = true;
    this.bySession.clear();
    this.handle.close();
    this.dp.closed(this);
  }

  readStats(): {
    port: number;
    device: string | null;
    gso: boolean;
    gro: boolean;
    tunnels: number;
    sessions: number;
    counters: SocketCounters & { rxDatagrams: number };
    wakeups: number;
    errors: number;
    truncated: number;
    groMessages: number;
    overflow: number;
  } {
    const u = this.stats;
    return {
      port: this.port,
      device: this.device ?? null,
      gso: this.gso,
      gro: this.gro,
      tunnels: this.tunnels.size,
      sessions: this.bySession.size,
      // every datagram read (GRO segments one by one), whichever path then took it
      counters: { rxDatagrams: u[PortStat.readPackets] as number, ...this.counters },
      wakeups: u[PortStat.wakeups] as number,
      errors: u[PortStat.readErrors] as number,
      truncated: u[PortStat.truncated] as number,
      groMessages: u[PortStat.groMessages] as number,
      overflow: u[PortStat.overflow] as number,
    };
  }
}
