/**
 * The pure tunnel core: sessions, make-before-break rotation, encryption in
 * place, replay protection, timers and counters. No I/O, no clock reads: the
 * shell (tunnel.ts) passes `nowMs` and moves the bytes.
 *
 * Sessions of one tunnel:
 *   current   sends and receives; always a session the peer has proven (an
 *             authenticated packet arrived on it)
 *   previous  receives only: the old session after a rotation, until it expires
 *   pending   a new session nobody has proven yet. It becomes current when the
 *             first authenticated packet arrives on it. Both roles keep it
 *             pending (make-before-break: data stays on `current` meanwhile):
 *               initiator  installs it on the confirm and sends keepalives on
 *                          it (probes, every PROBE_EVERY_MS) until the
 *                          responder's packet arrives on it
 *               responder  installs it when it answers; the initiator's probe
 *                          promotes it, and the responder acknowledges at once
 *                          with a keepalive on it (`ackDue`)
 *             So neither end calls a session current (nor a tunnel up) before
 *             its peer has authenticated traffic on it, and a confirm that
 *             answered an abandoned attempt (keys that do not match) never
 *             replaces a working session: its probes are never answered.
 *
 * Timers (all polled by the shell's one tick, see tick()):
 *   KEEPALIVE_AFTER_MS  send an empty packet after this long without sending
 *   DEAD_AFTER_MS       no authenticated packet this long: the tunnel is down
 *   REKEY_AFTER_MS      the control plane starts a new exchange
 *   REJECT_AFTER_MS     a session this old is never used again
 */
import { PROTOCOL } from '../base/constants.js';
import type { CryptoBackend } from '../crypto/index.js';
import { ReplayWindow } from '../crypto/index.js';
import {
  COUNTER_HI_LIMIT,
  HEADER_BYTES,
  MSG_DATA,
  readU32LE,
  TAG_BYTES,
  TUNNEL_OVERHEAD,
  writeHeader,
} from './packet.js';

/** The session timers and limits (DESIGN.md; defined in base/constants.ts). */
export const KEEPALIVE_AFTER_MS = PROTOCOL.keepaliveAfterMs;
export const DEAD_AFTER_MS = PROTOCOL.deadAfterMs;
/**
 * DESIGN: rekey every 120 s. SCROOGE_TEST_REKEY_MS shortens it for the
 * integration tests that must watch several rekeys; never set it in production.
 */
export const REKEY_AFTER_MS = rekeyOverride(process.env.SCROOGE_TEST_REKEY_MS) ?? PROTOCOL.rekeyAfterMs;
export const REJECT_AFTER_MS = PROTOCOL.rejectAfterMs;
export const PROBE_EVERY_MS = PROTOCOL.probeEveryMs;
export const REKEY_AFTER_MESSAGES = PROTOCOL.rekeyAfterMessages;
export const REJECT_AFTER_MESSAGES = PROTOCOL.rejectAfterMessages;

function rekeyOverride(v: string | undefined): number | undefined {
  const n = Number(v);
  return v !== undefined && Number.isInteger(n) && n >= 1000 && n < PROTOCOL.rekeyAfterMs ? n : undefined;
}

/**
 * Whether an endpoint learned from a control message (its datagram source,
 * which anyone on the link can forge) may replace the tunnel's: only when it
 * has none, or its peer has authenticated nothing for DEAD_AFTER_MS.
 */
export function adoptControlEndpoint(hasPeer: boolean, lastAuthRecvMs: number, nowMs: number): boolean {
  return !hasPeer || lastAuthRecvMs === Number.NEGATIVE_INFINITY || nowMs - lastAuthRecvMs >= DEAD_AFTER_MS;
}

/** Why a received datagram was dropped (negative results of open()). */
export const Drop = {
  malformed: -1,
  staleSession: -2,
  replay: -3,
  badTag: -4,
} as const;

export interface SessionKeys {
  readonly sendKey: Uint8Array;
  readonly recvKey: Uint8Array;
  readonly sessionId: number;
}

export class Session {
  readonly id: number;
  readonly sendKey: Uint8Array;
  readonly recvKey: Uint8Array;
  readonly createdMs: number;
  /** [the next send counter]: a typed array, so the native lone-packet path counts on in place. */
  readonly tx = new Float64Array(1);
  readonly replay = new ReplayWindow();

  constructor(keys: SessionKeys, createdMs: number) {
    this.id = keys.sessionId >>> 0;
    this.sendKey = keys.sendKey;
    this.recvKey = keys.recvKey;
    this.createdMs = createdMs;
  }

  get sendCounter(): number {
    return this.tx[0] as number;
  }

  set sendCounter(n: number) {
    this.tx[0] = n;
  }
}

/**
 * The slots of a tunnel's shared counters, in the order of the addon's
 * express_slot_names (test/express.test.ts compares them): the counters,
 * then two timestamps TunnelCore reads through accessors.
 */
export const COUNTER_NAMES = [
  'txPackets',
  'txBytes', // inner (payload) bytes
  'txWireBytes', // UDP payload bytes (payload + 32)
  'txKeepalives',
  'rxPackets',
  'rxBytes',
  'rxWireBytes',
  'rxKeepalives',
  'dropMalformed',
  'dropBadTag',
  'dropReplay',
  'dropStaleSession',
  'dropNoSession', // tx with no usable session
  'dropQueueFull',
  'dropDeviceError', // TUN write failed
  'dropSendError', // UDP send failed
  'rotations',
  'fastRxPackets', // datagrams the native lone-packet path took (included in the rx counters)
  'fastTxPackets', // packets it sent (included in the tx counters)
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export const SHARED_SLOTS = [...COUNTER_NAMES, 'lastSendMs', 'lastAuthRecvMs'] as const;
const LAST_SEND = COUNTER_NAMES.length;
const LAST_AUTH_RECV = COUNTER_NAMES.length + 1;

/** A class whose number properties `names` are slots of one Float64Array (`slots`). */
function slotRecord<const N extends readonly string[]>(
  names: N,
): new () => Record<N[number], number> & { readonly slots: Float64Array } {
  class Slots {
    readonly slots = new Float64Array(names.length + 2);
  }
  names.forEach((name, i) => {
    Object.defineProperty(Slots.prototype, name, {
      get(this: Slots): number {
        return this.slots[i] as number;
      },
      set(this: Slots, v: number) {
        this.slots[i] = v;
      },
      enumerable: true,
    });
  });
  return Slots as unknown as new () => Record<N[number], number> & { readonly slots: Float64Array };
}

/**
 * A tunnel's counters. Their storage (`slots`, with lastSendMs and
 * lastAuthRecvMs after them) is shared with the native lone-packet path,
 * which counts the packets it handles in the same places.
 */
export class TunnelCounters extends slotRecord(COUNTER_NAMES) {
  constructor() {
    super();
    this.slots[LAST_SEND] = Number.NEGATIVE_INFINITY;
    this.slots[LAST_AUTH_RECV] = Number.NEGATIVE_INFINITY;
  }

  /** A plain copy (for status output). */
  toRecord(): Record<CounterName, number> {
    const r = {} as Record<CounterName, number>;
    COUNTER_NAMES.forEach((name, i) => {
      r[name] = this.slots[i] as number;
    });
    return r;
  }
}

export interface TickResult {
  /** Send a keepalive now (nothing sent for KEEPALIVE_AFTER_MS). */
  keepalive: boolean;
  /**
   * We sent REKEY_AFTER_MESSAGES on the current session: it must be replaced
   * now, whoever initiated it (the control core rekeys by age itself).
   */
  rekeyDue: boolean;
  /** No authenticated packet for DEAD_AFTER_MS. */
  dead: boolean;
  /** No usable session to send with. */
  noSession: boolean;
  /** Send a probe (keepalive on the initiator's unproven pending session) now. */
  probe: boolean;
  /** Age of the initiator's unproven pending session (ms), or -1 if there is none. */
  unprovenMs: number;
}

export class TunnelCore {
  current: Session | undefined;
  previous: Session | undefined;
  pending: Session | undefined;
  /** Who installed `pending`: the initiator probes it, the responder waits for the probe. */
  pendingRole: 'initiator' | 'responder' | undefined;
  /** A responder's pending session was just promoted: acknowledge with a keepalive (the shell clears it). */
  ackDue = false;
  /** When the last probe went out. */
  lastProbeMs = Number.NEGATIVE_INFINITY;
  /** When the last session was installed (the dead timer runs from here too). */
  lastInstallMs = Number.NEGATIVE_INFINITY;
  readonly counters = new TunnelCounters();
  private readonly nonce = new Uint8Array(12);
  private readonly ad = new Uint8Array(HEADER_BYTES);

  constructor(private readonly aead: Pick<CryptoBackend, 'seal' | 'open'>) {}

  /** When we last sent anything (data or keepalive). */
  get lastSendMs(): number {
    return this.counters.slots[LAST_SEND] as number;
  }

  set lastSendMs(ms: number) {
    this.counters.slots[LAST_SEND] = ms;
  }

  /** When we last received an authenticated packet. */
  get lastAuthRecvMs(): number {
    return this.counters.slots[LAST_AUTH_RECV] as number;
  }

  set lastAuthRecvMs(ms: number) {
    this.counters.slots[LAST_AUTH_RECV] = ms;
  }

  /**
   * Installs a freshly negotiated session as `pending` (replacing an older
   * pending one). Returns false (and installs nothing) if its id collides
   * with a live session of this tunnel. The initiator then probes it
   * (sealProbe), the responder waits for the probe.
   */
  install(keys: SessionKeys, nowMs: number, role: 'initiator' | 'responder'): boolean {
    const id = keys.sessionId >>> 0;
    for (const s of [this.current, this.previous, this.pending]) if (s && s.id === id) return false;
    this.pending = new Session(keys, nowMs);
    this.pendingRole = role;
    this.lastProbeMs = Number.NEGATIVE_INFINITY;
    this.lastInstallMs = nowMs;
    return true;
  }

  /** Ids of the sessions that may receive (for a shared socket's demultiplexer). */
  sessionIds(): number[] {
    const ids: number[] = [];
    if (this.current) ids.push(this.current.id);
    if (this.previous) ids.push(this.previous.id);
    if (this.pending) ids.push(this.pending.id);
    return ids;
  }

  /** Drops every session (tunnel down or closed). */
  clear(): void {
    this.current = undefined;
    this.previous = undefined;
    this.pending = undefined;
    this.pendingRole = undefined;
    this.ackDue = false;
  }

  /**
   * Encrypts in place: header at buf[hdrOff..+16), payload at
   * buf[hdrOff+16..+len), tag written after it. Returns the datagram length,
   * or 0 if there is no usable session (counted as dropNoSession).
   */
  seal(buf: Uint8Array, hdrOff: number, len: number, nowMs: number): number {
    return this.sealWith(this.current, buf, hdrOff, len, nowMs);
  }

  /**
   * The initiator's probe: a keepalive (empty payload, buf needs
   * TUNNEL_OVERHEAD bytes at hdrOff) on its unproven pending session. Returns
   * the datagram length, or 0 if there is nothing to probe.
   */
  sealProbe(buf: Uint8Array, hdrOff: number, nowMs: number): number {
    if (this.pending === undefined || this.pendingRole !== 'initiator') return 0;
    this.lastProbeMs = nowMs;
    return this.sealWith(this.pending, buf, hdrOff, 0, nowMs);
  }

  private sealWith(s: Session | undefined, buf: Uint8Array, hdrOff: number, len: number, nowMs: number): number {
    if (s === undefined || nowMs - s.createdMs >= REJECT_AFTER_MS || s.sendCounter >= REJECT_AFTER_MESSAGES) {
      this.counters.dropNoSession++;
      return 0;
    }
    const counter = s.sendCounter++;
    writeHeader(buf, hdrOff, s.id, counter);
    const ad = this.ad;
    const nonce = this.nonce;
    for (let i = 0; i < HEADER_BYTES; i++) ad[i] = buf[hdrOff + i] as number;
    for (let i = 0; i < 8; i++) nonce[4 + i] = buf[hdrOff + 8 + i] as number;
    const p = hdrOff + HEADER_BYTES;
    this.aead.seal(s.sendKey, nonce, ad, buf.subarray(p, p + len), buf.subarray(p + len, p + len + TAG_BYTES));
    this.lastSendMs = nowMs;
    const c = this.counters;
    if (len === 0) c.txKeepalives++;
    else {
      c.txPackets++;
      c.txBytes += len;
    }
    c.txWireBytes += len + TUNNEL_OVERHEAD;
    return len + TUNNEL_OVERHEAD;
  }

  /**
   * Authenticates and decrypts a datagram in place (buf[off..off+len)). The
   * payload is then at buf[off+16 ..]. Returns the payload length (0 for a
   * keepalive) or a negative Drop code (already counted). Never throws.
   */
  open(buf: Uint8Array, off: number, len: number, nowMs: number): number {
    const c = this.counters;
    if (
      len < TUNNEL_OVERHEAD ||
      buf[off] !== MSG_DATA ||
      ((buf[off + 1] as number) | (buf[off + 2] as number) | (buf[off + 3] as number)) !== 0
    ) {
      c.dropMalformed++;
      return Drop.malformed;
    }
    const id = readU32LE(buf, off + 4);
    let s = this.current;
    if (s === undefined || s.id !== id) {
      s = this.pending;
      if (s === undefined || s.id !== id) {
        s = this.previous;
        if (s === undefined || s.id !== id) {
          c.dropStaleSession++;
          return Drop.staleSession;
        }
      }
    }
    if (nowMs - s.createdMs >= REJECT_AFTER_MS) {
      c.dropStaleSession++;
      return Drop.staleSession;
    }
    const hi = readU32LE(buf, off + 12);
    if (hi >= COUNTER_HI_LIMIT) {
      c.dropReplay++;
      return Drop.replay;
    }
    const counter = hi * 4294967296 + readU32LE(buf, off + 8);
    if (!s.replay.check(counter)) {
      c.dropReplay++;
      return Drop.replay;
    }
    const ad = this.ad;
    const nonce = this.nonce;
    for (let i = 0; i < HEADER_BYTES; i++) ad[i] = buf[off + i] as number;
    for (let i = 0; i < 8; i++) nonce[4 + i] = buf[off + 8 + i] as number;
    const p = off + HEADER_BYTES;
    const plen = len - TUNNEL_OVERHEAD;
    if (
      !this.aead.open(s.recvKey, nonce, ad, buf.subarray(p, p + plen), buf.subarray(p + plen, p + plen + TAG_BYTES))
    ) {
      c.dropBadTag++;
      return Drop.badTag;
    }
    s.replay.accept(counter);
    this.lastAuthRecvMs = nowMs;
    if (s === this.pending) {
      // The peer used the new session: it has the keys. Switch to it; a responder says so at once.
      if (this.current) this.previous = this.current;
      this.current = s;
      this.pending = undefined;
      if (this.pendingRole === 'responder') this.ackDue = true;
      this.pendingRole = undefined;
      c.rotations++;
    }
    if (plen === 0) c.rxKeepalives++;
    else {
      c.rxPackets++;
      c.rxBytes += plen;
    }
    c.rxWireBytes += len;
    return plen;
  }

  /**
   * Seals a batch in place. Entry i of `meta` (stride 4) is [payloadOffset,
   * payloadLength] with HEADER_BYTES of headroom before each payload and
   * TAG_BYTES after it. Writes [datagramOffset, datagramLength] entries to
   * `out` and returns how many.
   */
  sealList(buf: Uint8Array, meta: Int32Array, n: number, out: Int32Array, nowMs: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) {
      const off = meta[i * 4] as number;
      const w = this.seal(buf, off - HEADER_BYTES, meta[i * 4 + 1] as number, nowMs);
      if (w === 0) continue;
      out[k * 4] = off - HEADER_BYTES;
      out[k * 4 + 1] = w;
      k++;
    }
    return k;
  }

  /**
   * Opens datagrams [from, to) of a batch in place (meta entries [offset,
   * length, x, slot]). Writes the non-empty payloads as [payloadOffset,
   * length] to `out` and returns how many; `lastSlot[0]` gets the slot of the
   * last authenticated datagram (-1 if none), for roaming.
   */
  openList(
    buf: Uint8Array,
    meta: Int32Array,
    from: number,
    to: number,
    out: Int32Array,
    nowMs: number,
    lastSlot: Int32Array,
  ): number {
    let k = 0;
    let slot = -1;
    for (let e = from; e < to; e++) {
      const off = meta[e * 4] as number;
      const plen = this.open(buf, off, meta[e * 4 + 1] as number, nowMs);
      if (plen < 0) continue;
      slot = meta[e * 4 + 3] as number;
      if (plen === 0) continue;
      out[k * 4] = off + HEADER_BYTES;
      out[k * 4 + 1] = plen;
      k++;
    }
    lastSlot[0] = slot;
    return k;
  }

  /**
   * Packets out[from..to) ([offset, wire length] entries) were sealed and
   * counted but never left (the send failed): takes them back out of the tx counters.
   */
  unsent(out: Int32Array, from: number, to: number): void {
    const c = this.counters;
    for (let i = from; i < to; i++) {
      const w = out[i * 4 + 1] as number;
      if (w === TUNNEL_OVERHEAD) c.txKeepalives--;
      else {
        c.txPackets--;
        c.txBytes -= w - TUNNEL_OVERHEAD;
      }
      c.txWireBytes -= w;
    }
  }

  /** A keepalive would fall due within `horizonMs` (a usable session, nothing sent for KEEPALIVE_AFTER_MS − horizonMs). */
  keepaliveDueWithin(nowMs: number, horizonMs: number): boolean {
    const cur = this.current;
    return (
      cur !== undefined &&
      nowMs - cur.createdMs < REJECT_AFTER_MS &&
      nowMs - this.lastSendMs >= KEEPALIVE_AFTER_MS - horizonMs
    );
  }

  /** Polled by the shell's tick: expires old sessions and reports what is due. */
  tick(nowMs: number): TickResult {
    if (this.previous && nowMs - this.previous.createdMs >= REJECT_AFTER_MS) this.previous = undefined;
    if (this.pending && nowMs - this.pending.createdMs >= REJECT_AFTER_MS) this.pending = undefined;
    const cur = this.current;
    const usable = cur !== undefined && nowMs - cur.createdMs < REJECT_AFTER_MS;
    if (this.pending === undefined) this.pendingRole = undefined;
    const lastSign = Math.max(this.lastAuthRecvMs, this.lastInstallMs);
    const unproven = this.pendingRole === 'initiator' && this.pending !== undefined;
    return {
      keepalive: usable && nowMs - this.lastSendMs >= KEEPALIVE_AFTER_MS,
      rekeyDue: cur !== undefined && cur.sendCounter >= REKEY_AFTER_MESSAGES,
      dead: lastSign !== Number.NEGATIVE_INFINITY && nowMs - lastSign >= DEAD_AFTER_MS,
      noSession: !usable,
      probe: unproven && nowMs - this.lastProbeMs >= PROBE_EVERY_MS,
      unprovenMs: unproven ? nowMs - (this.pending as Session).createdMs : -1,
    };
  }
}
