/**
 * What traffic control needs to know about an inner IP packet, read straight
 * from its header: a flow hash (addresses, protocol, ports) for fair queueing
 * inside a neighbour's queue, and whether a packet is this node's own
 * (originated here: not limited by share).
 */

/** Local addresses: IPv4 as u32 in a Set, IPv6 as hex strings keyed by a 32-bit hash. */
export class LocalAddresses {
  private v4 = new Set<number>();
  private v6 = new Map<number, Uint8Array[]>();

  replace(addresses: Uint8Array[]): void {
    const v4 = new Set<number>();
    const v6 = new Map<number, Uint8Array[]>();
    for (const a of addresses) {
      if (a.length === 4) v4.add(u32(a, 0));
      else if (a.length === 16) {
        const h = hash16(a, 0);
        const list = v6.get(h);
        if (list) list.push(a);
        else v6.set(h, [a]);
      }
    }
    this.v4 = v4;
    this.v6 = v6;
  }

  has4(buf: Uint8Array, off: number): boolean {
    return this.v4.has(u32(buf, off));
  }

  has6(buf: Uint8Array, off: number): boolean {
    const list = this.v6.get(hash16(buf, off));
    if (list === undefined) return false;
    outer: for (const a of list) {
      for (let i = 0; i < 16; i++) if (a[i] !== buf[off + i]) continue outer;
      return true;
    }
    return false;
  }

  get size(): number {
    return this.v4.size + [...this.v6.values()].reduce((n, l) => n + l.length, 0);
  }
}

function u32(b: Uint8Array, o: number): number {
  return (
    (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0
  );
}

function hash16(b: Uint8Array, o: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ (b[o + i] as number), 0x01000193);
  return h >>> 0;
}

/**
 * Flow hash of an inner packet (0..2^32-1): FNV-1a over addresses, protocol
 * and, for TCP/UDP/SCTP, ports. Malformed or non-IP packets hash to 0.
 */
export function flowHash(buf: Uint8Array, off: number, len: number): number {
  if (len < 20) return 0;
  const v = (buf[off] as number) >> 4;
  let h = 0x811c9dc5;
  let proto: number;
  let l4: number;
  if (v === 4) {
    proto = buf[off + 9] as number;
    for (let i = 12; i < 20; i++) h = Math.imul(h ^ (buf[off + i] as number), 0x01000193);
    l4 = off + ((buf[off] as number) & 0x0f) * 4;
  } else if (v === 6 && len >= 40) {
    proto = buf[off + 6] as number;
    for (let i = 8; i < 40; i++) h = Math.imul(h ^ (buf[off + i] as number), 0x01000193);
    l4 = off + 40;
  } else return 0;
  h = Math.imul(h ^ proto, 0x01000193);
  if ((proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= off + len) {
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ (buf[l4 + i] as number), 0x01000193);
  }
  return h >>> 0;
}

/**
 * Did this node originate the packet (its source is one of our addresses)?
 * Asked on egress only. On ingress nothing is "own": every packet that came
 * through a neighbour's tunnel is that neighbour's traffic whatever its
 * destination (this node included), so its cap, weight and share apply. The
 * sender picks the destination; 0.1.0 let a capped neighbour send at full
 * speed by addressing the node itself.
 */
export function isOwn(local: LocalAddresses, buf: Uint8Array, off: number, len: number): boolean {
  if (len < 20) return false;
  const v = (buf[off] as number) >> 4;
  if (v === 4) return local.has4(buf, off + 12);
  if (v === 6 && len >= 40) return local.has6(buf, off + 8);
  return false;
}
