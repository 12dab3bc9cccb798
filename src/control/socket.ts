/**
 * The control protocol's socket: one dual-stack UDP socket on the control
 * port (8481), receiving on every interface with the arrival interface of
 * each datagram (IPV6_PKTINFO), member of ff02::1 on each mesh interface.
 * It lives in the native addon like the tunnel sockets; it uses its own small
 * slab (a datagram over 512 bytes is truncated by the kernel and dropped).
 *
 * Reads are coalesced when messages come fast: a read that drained the socket
 * less than `coalesceMs` after the previous one stops polling for `coalesceMs`,
 * and what arrived meanwhile is read in one batch when it resumes (then it
 * pauses again, until a pause ends with nothing queued). A lone message is read
 * at once; a hub with many neighbours wakes about 1000 / coalesceMs times a
 * second for their hellos and confirms instead of once per message. A full
 * batch never pauses: a flood is read as fast as before.
 */
import { type ScroogeError } from '../../base/errors.js';
import { DataplaneError } from '../../dataplane/errors.js';
import { NATIVE, PROTOCOL } from '../../base/constants.js';
import { KIND_UDP, type NativePort, native, nativeError } from '../../dataplane/native.js';
import { decodeSockaddr, encodeSockaddr, isLinkLocal6, type SockAddr, toMapped6 } from '../../dataplane/sockaddr.js';
import { ALL_ONES_V6_MULTICAST } from './core.js';

const SLOT = NATIVE.controlSlotBytes;
const BATCH = NATIVE.controlBatch;

export interface Received {
  bytes: Uint8Array;
  ifindex: number;
  from: SockAddr;
}

export interface ControlHandlers {
  /** One datagram (its bytes are valid only during the call). */
  datagram: (d: Received) => void;
  /** After each batch of datagrams. */
  batchEnd: () => void;
  /** The socket failed for good. */
  failure: (e: ScroogeError) => void;
}

export class ControlSocket {
  readonly port: number;
  private readonly fd: number;
  private readonly handle: NativePort;
  private readonly slab = new Uint8Array(SLOT * BATCH);
  private readonly meta: Int32Array;
  private readonly addrs: Uint8Array;
  readonly stats: Float64Array;
  private closed = false;
  sendErrors = 0;
  lastSendError = '';
  /** Pauses taken to coalesce reads (see above). */
  coalescedPauses = 0;
  private lastReadMs = Number.NEGATIVE_INFINITY;
  private resumed = false;
  private resumeTimer: NodeJS.Timeout | undefined;

  /** coalesceMs: 0 reads every message at once. */
  constructor(
    port: number,
    private readonly on: ControlHandlers,
    private readonly coalesceMs = 0,
  ) {
    const n = native();
    let s: { fd: number; port: number };
    try {
      s = n.udpOpen({ family: 6, port, v6only: false, pktinfo: true, rcvbuf: 1 << 20, sndbuf: 1 << 20 });
    } catch (e) {
      const err = nativeError('ERR_SOCKET', `cannot bind the control port ${port}`, e);
      if ((e as { code?: string }).code === 'EADDRINUSE') {
        throw new DataplaneError(
          'ERR_SOCKET',
          `control port ${port} is in use (another scrooge in this network namespace?)`,
          { cause: e },
        );
      }
      throw err;
    }
    this.fd = s.fd;
    this.port = s.port;
    this.meta = new Int32Array(BATCH * n.META_STRIDE);
    this.addrs = new Uint8Array(BATCH * n.ADDR_STRIDE);
    this.stats = new Float64Array(n.STATS_SLOTS);
    this.handle = new n.Port(
      {
        kind: KIND_UDP,
        fd: this.fd,
        slab: this.slab,
        meta: this.meta,
        stats: this.stats,
        addrs: this.addrs,
        slotSize: SLOT,
        headroom: 0,
        tailroom: 0,
        maxBatch: BATCH,
      },
      (count) => {
        if (count < 0) {
          this.on.failure(new DataplaneError('ERR_SOCKET', `control socket failed (${n.errnoName(count)})`));
          return;
        }
        for (let i = 0; i < count; i++) {
          const off = this.meta[i * 4] as number;
          const len = this.meta[i * 4 + 1] as number;
          const ifindex = this.meta[i * 4 + 2] as number;
          const slot = this.meta[i * 4 + 3] as number;
          const from = decodeSockaddr(this.addrs, slot * n.ADDR_STRIDE);
          if (!from || len > PROTOCOL.maxControlMessageBytes) continue;
          this.on.datagram({ bytes: this.slab.subarray(off, off + len), ifindex, from });
        }
        this.on.batchEnd();
        if (count < BATCH) this.drained();
      },
    );
    this.handle.start();
  }

  /** A read emptied the socket: pause if it came soon after the last one (or ended a pause). */
  private drained(): void {
    if (this.coalesceMs <= 0 || this.closed) return;
    const now = performance.now();
    const soon = this.resumed || now - this.lastReadMs < this.coalesceMs;
    this.lastReadMs = now;
    this.resumed = false;
    if (!soon) return;
    this.coalescedPauses++;
    this.handle.stop();
    this.resumeTimer = setTimeout(() => this.resume(), this.coalesceMs);
  }

  /** Ends a pause: polls again and reads what waited now, in this wake-up (then pauses again if anything did). */
  private resume(): void {
    this.resumeTimer = undefined;
    if (this.closed) return;
    this.handle.start();
    this.resumed = true;
    this.handle.pollNow();
    this.resumed = false;
  }

  /** Reading is paused to coalesce (see above). */
  get paused(): boolean {
    return this.resumeTimer !== undefined;
  }

  /** Joins (or leaves) ff02::1 on an interface. */
  membership(ifindex: number, join: boolean): void {
    try {
      native().udpJoinGroup(this.fd, ALL_ONES_V6_MULTICAST, ifindex, join);
    } catch (e) {
      throw nativeError('ERR_SOCKET', `cannot ${join ? 'join' : 'leave'} ff02::1 on ifindex ${ifindex}`, e);
    }
  }

  /** Sends one datagram; link-local and multicast destinations are scoped to `ifindex`. Returns false on error. */
  send(bytes: Uint8Array, to: SockAddr, ifindex: number): boolean {
    if (this.closed) return false;
    const scoped =
      to.family === 6 && (isLinkLocal6(to.address) || to.address[0] === 0xff) ? { ...to, scopeId: ifindex } : to;
    const sa = encodeSockaddr(toMapped6(scoped));
    const r = native().udpSendTo(this.fd, bytes, 0, bytes.length, sa);
    if (r < 0) {
      this.sendErrors++;
      this.lastSendError = native().errnoName(r);
      return false;
    }
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    this.handle.close();
  }
}
