/**
 * The kernel's link and address notifications (rtnetlink), instead of
 * polling: a netlink socket subscribed to RTMGRP_LINK and the IPv4/IPv6
 * address groups, polled by the addon like a TUN device. Each batch is parsed
 * (pure, bounds-checked: a bad message ends the parse, counted) into the
 * interfaces it concerns, and the owner re-reads only when one of its own is
 * among them. When nothing changes, nothing runs. Only the kernel's messages
 * count: another local process can unicast to a netlink socket, and its
 * messages are dropped in the addon (counted).
 */
import { endianness } from 'node:os';
import type { Logger } from './log.js';
import { KIND_NETLINK, type NativePort, native, nativeError, PortStat } from './native.js';

const LE = endianness() === 'LE';
const NLMSG_HDR = 16;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const IFINFOMSG = 16;
const IFADDRMSG = 8;
const IFLA_IFNAME = 3;
/** One read: the kernel sends notifications in messages far below this. */
const SLOT = 16 * 1024;
const BATCH = 16;

/** What one batch of notifications was about. */
export interface LinkChanges {
  /** Interfaces (by index) whose link or addresses changed. */
  ifindexes: Set<number>;
  /** Names of links that were created, changed or removed. */
  names: Set<string>;
  /** An address was added or removed somewhere (the node's own addresses changed). */
  addresses: boolean;
  /** The kernel dropped notifications, or one could not be parsed: re-read everything. */
  lost: boolean;
}

export function emptyChanges(): LinkChanges {
  return { ifindexes: new Set(), names: new Set(), addresses: false, lost: false };
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Adds what the netlink messages in buf[off, off+len) say to `into`. Never
 * reads past the range; a malformed message sets `lost` and ends the parse.
 */
export function parseNotifications(buf: Uint8Array, off: number, len: number, into: LinkChanges): void {
  if (len === 0) {
    into.lost = true;
    return;
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const end = off + len;
  let at = off;
  while (at + NLMSG_HDR <= end) {
    const mlen = v.getUint32(at, LE);
    const type = v.getUint16(at + 4, LE);
    if (mlen < NLMSG_HDR || at + mlen > end) {
      into.lost = true;
      return;
    }
    const body = at + NLMSG_HDR;
    if (type === RTM_NEWLINK || type === RTM_DELLINK) {
      if (mlen < NLMSG_HDR + IFINFOMSG) {
        into.lost = true;
        return;
      }
      into.ifindexes.add(v.getInt32(body + 4, LE));
      const name = linkName(buf, v, body + IFINFOMSG, at + mlen);
      if (name !== undefined) into.names.add(name);
    } else if (type === RTM_NEWADDR || type === RTM_DELADDR) {
      if (mlen < NLMSG_HDR + IFADDRMSG) {
        into.lost = true;
        return;
      }
      into.ifindexes.add(v.getUint32(body + 4, LE));
      into.addresses = true;
    }
    at += align4(mlen);
  }
}

/** IFLA_IFNAME among the attributes in [at, end), if present and well-formed. */
function linkName(buf: Uint8Array, v: DataView, at: number, end: number): string | undefined {
  while (at + 4 <= end) {
    const alen = v.getUint16(at, LE);
    const type = v.getUint16(at + 2, LE) & 0x3fff;
    if (alen < 4 || at + alen > end) return undefined;
    if (type === IFLA_IFNAME) {
      let stop = at + 4;
      while (stop < at + alen && buf[stop] !== 0) stop++;
      return Buffer.from(buf.buffer, buf.byteOffset + at + 4, stop - at - 4).toString('latin1');
    }
    at += align4(alen);
  }
  return undefined;
}

/** The kernel's link and address notifications, delivered per batch. */
export class LinkMonitor {
  private readonly port: NativePort;
  private readonly slab = new Uint8Array(SLOT * BATCH);
  private readonly meta: Int32Array;
  private readonly stats: Float64Array;
  /** Batches parsed, and notifications lost (the kernel's queue overran, or a malformed message). */
  readonly counters = { batches: 0, lost: 0 };

  /** Messages dropped because they did not come from the kernel. */
  get foreign(): number {
    return this.stats[PortStat.foreign] as number;
  }

  /** Throws ERR_SOCKET when the socket cannot be opened (the caller falls back to polling). */
  constructor(onChange: (c: LinkChanges) => void, log: Logger) {
    const n = native();
    this.meta = new Int32Array(BATCH * n.META_STRIDE);
    this.stats = new Float64Array(n.STATS_SLOTS);
    let fd: number;
    try {
      fd = n.netlinkSubscribe(1 << 20);
    } catch (e) {
      throw nativeError('ERR_SOCKET', 'cannot subscribe to rtnetlink', e);
    }
    const onBatch = (count: number): void => {
      const c = emptyChanges();
      if (count < 0) {
        log.error('rtnetlink socket failed; re-reading interfaces', { errno: n.errnoName(count) });
        c.lost = true;
      }
      for (let i = 0; i < count; i++) {
        parseNotifications(this.slab, this.meta[i * 4] as number, this.meta[i * 4 + 1] as number, c);
      }
      this.counters.batches++;
      if (c.lost) this.counters.lost++;
      onChange(c);
    };
    try {
      this.port = new n.Port(
        {
          kind: KIND_NETLINK,
          fd,
          slab: this.slab,
          meta: this.meta,
          stats: this.stats,
          addrs: null,
          slotSize: SLOT,
          headroom: 0,
          tailroom: 0,
          maxBatch: BATCH,
        },
        onBatch,
      );
      this.port.start();
    } catch (e) {
      n.closeFd(fd);
      throw nativeError('ERR_SOCKET', 'cannot poll rtnetlink', e);
    }
  }

  close(): void {
    this.port.close();
  }
}
