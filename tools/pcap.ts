/** Classic pcap parsing for the labs' captures (tests and benchmarks). */
/** Parses a classic pcap file into raw link-layer frames. */
export function pcapFrames(buf: Buffer): Buffer[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const rd = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const frames: Buffer[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = rd(off + 8);
    off += 16;
    if (off + incl > buf.length) break;
    frames.push(buf.subarray(off, off + incl));
    off += incl;
  }
  return frames;
}

/** UDP payloads (with destination port) of Ethernet/IPv6 or IPv4 frames. */
export function udpPayloads(frames: Buffer[]): Array<{ dport: number; sport: number; payload: Buffer }> {
  const out: Array<{ dport: number; sport: number; payload: Buffer }> = [];
  for (const f of frames) {
    if (f.length < 14) continue;
    const type = f.readUInt16BE(12);
    let l4: number;
    if (type === 0x86dd && f[14 + 6] === 17) l4 = 14 + 40;
    else if (type === 0x0800 && f[14 + 9] === 17) l4 = 14 + ((f[14] as number) & 0x0f) * 4;
    else continue;
    if (f.length < l4 + 8) continue;
    out.push({ sport: f.readUInt16BE(l4), dport: f.readUInt16BE(l4 + 2), payload: f.subarray(l4 + 8) });
  }
  return out;
}
