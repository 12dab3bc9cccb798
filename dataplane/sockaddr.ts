/**
 * IP addresses and the raw sockaddr bytes the addon takes and returns.
 *
 * sockaddr_in6 (28 bytes): family u16 (host order), port u16 (network order),
 * flowinfo u32, addr[16], scope_id u32 (host order).
 * sockaddr_in (16 bytes): family u16 (host order), port u16 (network order), addr[4], zero[8].
 */
import { DataplaneError } from './errors.js';
import { endianness } from 'node:os';

const LE = endianness() === 'LE';
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCKADDR_IN6_LEN = 28;
export const SOCKADDR_IN_LEN = 16;

export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** Parses IPv6 text (RFC 4291 forms, embedded IPv4 allowed, no zone). */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45 || text.includes('%')) return undefined;
  let head = text;
  let v4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  let words: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return undefined;
    words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseGroups(head);
    if (all?.length !== 8) return undefined;
    words = all;
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

export function isLinkLocal6(a: Uint8Array): boolean {
  return a.length === 16 && a[0] === 0xfe && ((a[1] as number) & 0xc0) === 0x80;
}

export function formatIPv4(a: Uint8Array): string {
  return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
}

export interface SockAddr {
  family: 4 | 6;
  /** Address bytes (4 or 16). */
  address: Uint8Array;
  port: number;
  scopeId: number;
}

export function encodeSockaddr(sa: SockAddr): Uint8Array {
  if (sa.family === 6) {
    const b = new Uint8Array(SOCKADDR_IN6_LEN);
    const v = new DataView(b.buffer);
    v.setUint16(0, AF_INET6, LE);
    v.setUint16(2, sa.port, false);
    b.set(sa.address, 8);
    v.setUint32(24, sa.scopeId >>> 0, LE);
    return b;
  }
  const b = new Uint8Array(SOCKADDR_IN_LEN);
  const v = new DataView(b.buffer);
  v.setUint16(0, AF_INET, LE);
  v.setUint16(2, sa.port, false);
  b.set(sa.address, 4);
  return b;
}

/** Decodes sockaddr bytes at `off` (as written by the addon); undefined if not inet. */
export function decodeSockaddr(buf: Uint8Array, off = 0): SockAddr | undefined {
  const v = new DataView(buf.buffer, buf.byteOffset + off, Math.min(28, buf.length - off));
  if (v.byteLength < 16) return undefined;
  const fam = v.getUint16(0, LE);
  if (fam === AF_INET6 && v.byteLength >= 28) {
    const address = buf.slice(off + 8, off + 24);
    // v4-mapped (dual-stack socket): report as IPv4
    if (address.subarray(0, 10).every((x) => x === 0) && address[10] === 0xff && address[11] === 0xff) {
      return { family: 4, address: address.slice(12), port: v.getUint16(2, false), scopeId: 0 };
    }
    return { family: 6, address, port: v.getUint16(2, false), scopeId: v.getUint32(24, LE) };
  }
  if (fam === AF_INET)
    return { family: 4, address: buf.slice(off + 4, off + 8), port: v.getUint16(2, false), scopeId: 0 };
  return undefined;
}

/** "[fe80::1%eth0]:4000" / "10.0.0.1:4000" for logs and the API. */
export function formatSockaddr(sa: SockAddr, ifname?: string): string {
  if (sa.family === 4) return `${formatIPv4(sa.address)}:${sa.port}`;
  const zone = sa.scopeId && isLinkLocal6(sa.address) ? `%${ifname ?? sa.scopeId}` : '';
  return `[${formatIPv6(sa.address)}${zone}]:${sa.port}`;
}

/** IPv4 → v4-mapped IPv6 (for dual-stack sockets). */
export function toMapped6(sa: SockAddr): SockAddr {
  if (sa.family === 6) return sa;
  const a = new Uint8Array(16);
  a[10] = 0xff;
  a[11] = 0xff;
  a.set(sa.address, 12);
  return { family: 6, address: a, port: sa.port, scopeId: 0 };
}

export function sameSockaddr(a: SockAddr, b: SockAddr): boolean {
  if (a.family !== b.family || a.port !== b.port || a.scopeId !== b.scopeId) return false;
  for (let i = 0; i < a.address.length; i++) if (a.address[i] !== b.address[i]) return false;
  return true;
}

/** Parses "addr/plen" (IPv4 or IPv6) as used by --address. */
export function parsePrefix(text: string): { family: 4 | 6; address: Uint8Array; prefixLen: number } {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addr);
  const v6 = v4 ? undefined : parseIPv6(addr);
  if (!v4 && !v6) throw new DataplaneError('ERR_INVALID_ARGUMENT', `"${text}" is not an IPv4 or IPv6 address`);
  const max = v4 ? 32 : 128;
  const plen = slash < 0 ? max : Number(text.slice(slash + 1));
  if (
    !Number.isInteger(plen) ||
    plen < 0 ||
    plen > max ||
    !/^\d+$/.test(slash < 0 ? String(max) : text.slice(slash + 1))
  ) {
    throw new DataplaneError('ERR_INVALID_ARGUMENT', `"${text}": prefix length must be 0-${max}`);
  }
  return v4 ? { family: 4, address: v4, prefixLen: plen } : { family: 6, address: v6 as Uint8Array, prefixLen: plen };
}

/** RFC 5952 text of a 16-byte IPv6 address (longest zero run compressed). */
export function formatIPv6(a: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((a[i] as number) << 8) | (a[i + 1] as number));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
