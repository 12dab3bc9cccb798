/** Small deterministic PRNG (xorshift32) for reproducible simulations and random tests. */
export function prng(seed: number): { u32(): number; bytes(n: number): Uint8Array; int(max: number): number } {
  let s = seed >>> 0 || 1;
  const u32 = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    u32,
    bytes(n) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 0xff;
      return b;
    },
    int(max) {
      return u32() % max;
    },
  };
}
