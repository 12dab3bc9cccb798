/**
 * IPv4/IPv6 TCP and UDP packets built and checked in plain TypeScript: the
 * reference the native segmenter and coalescer (dataplane/native/offload.c)
 * are tested against.
 */
import { prng } from './prng.js';

export interface Flow {
  v6: boolean;
  tcp: boolean;
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
}

export const V4A = Uint8Array.of(10, 0, 0, 1);
export const V4B = Uint8Array.of(10, 0, 0, 2);
export const V6A = Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), 1]);
export const V6B = Uint8Array.from([0xfd, 0, ...new Array<number>(13).fill(0), 2]);

export function flow(v6: boolean, tcp: boolean, sport = 40000, dport = 5201): Flow {
  return { v6, tcp, src: v6 ? V6A : V4A, dst: v6 ? V6B : V4B, sport, dport };
}

/** RFC 1071 sum of b (big-endian 16-bit words), not folded. */
export function sum16(b: Uint8Array, start = 0, end = b.length, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < end) s += (b[i] as number) << 8;
  return s;
}

export function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return x;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  put16(b, at, (v >>> 16) & 0xffff);
  put16(b, at + 2, v & 0xffff);
}

export function get16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

export function get32(b: Uint8Array, at: number): number {
  return ((get16(b, at) << 16) | get16(b, at + 2)) >>> 0;
}

export function l4Offset(p: Uint8Array): number {
  return (p[0] as number) >> 4 === 6 ? 40 : ((p[0] as number) & 15) * 4;
}

/** The pseudo-header sum of an IP packet's transport part (length l4len). */
export function pseudoSum(p: Uint8Array, l4len: number): number {
  const v6 = (p[0] as number) >> 4 === 6;
  const proto = v6 ? (p[6] as number) : (p[9] as number);
  const s = v6 ? sum16(p, 8, 40) : sum16(p, 12, 20);
  return s + proto + l4len;
}

/** Whether the IPv4 header checksum (if v4) and the TCP/UDP checksum of a whole packet verify. */
export function checksumsOk(p: Uint8Array): boolean {
  const v6 = (p[0] as number) >> 4 === 6;
  const l4 = l4Offset(p);
  if (!v6 && fold(sum16(p, 0, l4)) !== 0xffff) return false;
  return fold(pseudoSum(p, p.length - l4) + sum16(p, l4)) === 0xffff;
}

export interface PacketOptions {
  seq?: number;
  ack?: number;
  flags?: number;
  id?: number;
  df?: boolean;
  ttl?: number;
  window?: number;
  /** TCP options (a multiple of 4 bytes). */
  options?: Uint8Array;
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, CWR: 0x80 } as const;

/** A complete packet of `f` with `payload`, checksums filled in. */
export function packet(f: Flow, payload: Uint8Array, o: PacketOptions = {}): Uint8Array {
  const l4 = f.v6 ? 40 : 20;
  const opt = o.options ?? new Uint8Array(0);
  const th = f.tcp ? 20 + opt.length : 8;
  const p = new Uint8Array(l4 + th + payload.length);
  if (f.v6) {
    p[0] = 0x60;
    put16(p, 4, th + payload.length);
    p[6] = f.tcp ? 6 : 17;
    p[7] = o.ttl ?? 64;
    p.set(f.src, 8);
    p.set(f.dst, 24);
  } else {
    p[0] = 0x45;
    put16(p, 2, p.length);
    put16(p, 4, o.id ?? 1);
    p[6] = (o.df ?? true) ? 0x40 : 0;
    p[8] = o.ttl ?? 64;
    p[9] = f.tcp ? 6 : 17;
    p.set(f.src, 12);
    p.set(f.dst, 16);
    put16(p, 10, 0xffff - fold(sum16(p, 0, 20)));
  }
  put16(p, l4, f.sport);
  put16(p, l4 + 2, f.dport);
  if (f.tcp) {
    put32(p, l4 + 4, o.seq ?? 1000);
    put32(p, l4 + 8, o.ack ?? 77);
    p[l4 + 12] = (th / 4) << 4;
    p[l4 + 13] = o.flags ?? TCP.ACK;
    put16(p, l4 + 14, o.window ?? 502);
    p.set(opt, l4 + 20);
  } else {
    put16(p, l4 + 4, th + payload.length);
  }
  p.set(payload, l4 + th);
  const c = 0xffff - fold(pseudoSum(p, p.length - l4) + sum16(p, l4));
  put16(p, l4 + (f.tcp ? 16 : 6), f.tcp ? c : c === 0 ? 0xffff : c);
  return p;
}

/** n reproducible pseudo-random bytes. */
export function bytes(n: number, seed: number): Uint8Array {
  return prng(seed + 1).bytes(n);
}

export interface Vnet {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export const VNET = { NEEDS_CSUM: 1, NONE: 0, TCPV4: 1, TCPV6: 4, UDP_L4: 5 } as const;

const little = true;

/** The 10-byte header, little-endian (the addon asks TUN for that on big-endian hosts). */
export function encodeVnet(h: Vnet): Uint8Array {
  const b = new Uint8Array(10);
  const v = new DataView(b.buffer);
  b[0] = h.flags;
  b[1] = h.gsoType;
  v.setUint16(2, h.hdrLen, little);
  v.setUint16(4, h.gsoSize, little);
  v.setUint16(6, h.csumStart, little);
  v.setUint16(8, h.csumOffset, little);
  return b;
}

export function decodeVnet(b: Uint8Array, at = 0): Vnet {
  const v = new DataView(b.buffer, b.byteOffset + at, 10);
  return {
    flags: b[at] as number,
    gsoType: b[at + 1] as number,
    hdrLen: v.getUint16(2, little),
    gsoSize: v.getUint16(4, little),
    csumStart: v.getUint16(6, little),
    csumOffset: v.getUint16(8, little),
  };
}

/**
 * A super-packet as the kernel hands it to a TUN with TSO/USO: one packet
 * carrying the whole payload, the checksum field holding the folded
 * pseudo-header sum (CHECKSUM_PARTIAL), and its virtio header in front.
 */
export function superPacket(f: Flow, payload: Uint8Array, gsoSize: number, o: PacketOptions = {}): Uint8Array {
  const p = packet(f, payload, o);
  const l4 = f.v6 ? 40 : 20;
  const th = f.tcp ? ((p[l4 + 12] as number) >> 4) * 4 : 8;
  const csumAt = l4 + (f.tcp ? 16 : 6);
  put16(p, csumAt, fold(pseudoSum(p, p.length - l4)));
  const h = encodeVnet({
    flags: VNET.NEEDS_CSUM,
    gsoType: f.tcp ? (f.v6 ? VNET.TCPV6 : VNET.TCPV4) : VNET.UDP_L4,
    hdrLen: l4 + th,
    gsoSize,
    csumStart: l4,
    csumOffset: f.tcp ? 16 : 6,
  });
  const out = new Uint8Array(10 + p.length);
  out.set(h);
  out.set(p, 10);
  return out;
}

/**
 * What the kernel does with a CHECKSUM_PARTIAL packet: the sum from
 * csum_start to the end (the field holds the pseudo-header sum), inverted.
 */
export function finishChecksum(p: Uint8Array, csumStart: number, csumOffset: number): Uint8Array {
  const q = p.slice();
  const c = 0xffff - fold(sum16(q, csumStart));
  put16(q, csumStart + csumOffset, c === 0 ? 0xffff : c);
  return q;
}
