/**
 * The tunnel data packet (DESIGN.md, "Tunnel data protocol"):
 *
 *   0      1         4            8                  16
 *   | type | zero(3) | session id | counter (u64 LE) | ChaCha20-Poly1305(payload) | tag(16) |
 *
 * type 1 = data (an empty payload is a keepalive); nonce = 4 zero bytes ||
 * counter (LE); AAD = the 16-byte header. Overhead: 32 bytes + UDP + IP.
 */
import { WIRE } from '../base/constants.js';

export const MSG_DATA = WIRE.msgData;
export const HEADER_BYTES = WIRE.dataHeaderBytes;
export const TAG_BYTES = WIRE.tagBytes;
export const TUNNEL_OVERHEAD = HEADER_BYTES + TAG_BYTES;
/** Outer IPv6 + UDP + tunnel (32). */
export const OUTER_OVERHEAD_V6 = WIRE.ipv6UdpHeaderBytes + TUNNEL_OVERHEAD;
/** Outer IPv4 + UDP + tunnel (32). */
export const OUTER_OVERHEAD_V4 = WIRE.ipv4UdpHeaderBytes + TUNNEL_OVERHEAD;
/** Counters above this are never sent; the high word is checked before building a Number. */
export const COUNTER_HI_LIMIT = 0x200000; // 2^53 / 2^32

/** TUN MTU for an underlay MTU (DESIGN.md: MTU − 80 over IPv6, MTU − 60 over IPv4). */
export function tunnelMtu(underlayMtu: number, outerFamily: 4 | 6): number {
  return underlayMtu - (outerFamily === 6 ? OUTER_OVERHEAD_V6 : OUTER_OVERHEAD_V4);
}

export function writeHeader(buf: Uint8Array, off: number, sessionId: number, counter: number): void {
  buf[off] = MSG_DATA;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = sessionId & 0xff;
  buf[off + 5] = (sessionId >>> 8) & 0xff;
  buf[off + 6] = (sessionId >>> 16) & 0xff;
  buf[off + 7] = sessionId >>> 24;
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 4294967296);
  buf[off + 8] = lo & 0xff;
  buf[off + 9] = (lo >>> 8) & 0xff;
  buf[off + 10] = (lo >>> 16) & 0xff;
  buf[off + 11] = lo >>> 24;
  buf[off + 12] = hi & 0xff;
  buf[off + 13] = (hi >>> 8) & 0xff;
  buf[off + 14] = (hi >>> 16) & 0xff;
  buf[off + 15] = hi >>> 24;
}

export function readU32LE(buf: Uint8Array, o: number): number {
  return (
    ((buf[o] as number) |
      ((buf[o + 1] as number) << 8) |
      ((buf[o + 2] as number) << 16) |
      ((buf[o + 3] as number) << 24)) >>>
    0
  );
}

export interface DecodedHeader {
  type: number;
  sessionId: number;
  counter: number;
}

/** Parses a header (for tests and tools; the hot path inlines this). */
export function readHeader(buf: Uint8Array, off = 0): DecodedHeader | undefined {
  if (buf.length - off < TUNNEL_OVERHEAD) return undefined;
  if ((buf[off + 1] as number) | (buf[off + 2] as number) | (buf[off + 3] as number)) return undefined;
  const hi = readU32LE(buf, off + 12);
  if (hi >= COUNTER_HI_LIMIT) return undefined;
  return {
    type: buf[off] as number,
    sessionId: readU32LE(buf, off + 4),
    counter: hi * 4294967296 + readU32LE(buf, off + 8),
  };
}

/**
 * Whether any inner packet of list[0..n) ([offset, length] entries, stride 4)
 * is unicast. Multicast (the kernel's own chatter on a new device: router
 * solicitations, MLD and IGMP reports) does not keep the latency keeper awake.
 */
export function anyUnicast(buf: Uint8Array, list: Int32Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const off = list[i * 4] as number;
    const len = list[i * 4 + 1] as number;
    const version = (buf[off] as number) >> 4;
    if (version === 6 && len >= 40 && buf[off + 24] === 0xff) continue;
    if (version === 4 && len >= 20 && ((buf[off + 16] as number) & 0xf0) === 0xe0) continue;
    return true;
  }
  return false;
}
