/**
 * Crypto micro-benchmark: µs per operation for each primitive and backend.
 *
 *   npm run build && node dist/bench/crypto.js [--json]
 *
 * AEAD runs the way the data path does: in place on a slab, a subarray view
 * per packet, 16-byte header as AAD.
 */
import { performance } from 'node:perf_hooks';
import type { CryptoBackend } from '../crypto/index.js';
import { createJsBackend } from '../crypto/purejs.js';
import { createSodiumBackend } from '../crypto/sodium.js';

function timeOp(fn: (i: number) => void, budgetMs: number): number {
  for (let i = 0; i < 200; i++) fn(i); // warm-up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let k = 0; k < 64; k++) fn(n++);
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

function bench(b: CryptoBackend, budgetMs: number): Record<string, number> {
  const slab = new Uint8Array(64 * 2048);
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  const nonceView = new DataView(nonce.buffer);
  const out: Record<string, number> = {};
  for (const size of [64, 1420]) {
    out[`seal ${size} B`] = timeOp((i) => {
      const off = (i & 63) * 2048;
      nonceView.setUint32(4, i, true);
      b.seal(
        key,
        nonce,
        slab.subarray(off, off + 16),
        slab.subarray(off + 16, off + 16 + size),
        slab.subarray(off + 16 + size, off + 32 + size),
      );
    }, budgetMs);
    // open needs valid ciphertext: prepare one sealed packet per slot, reseal after opening
    const sealed = new Uint8Array(size + 32);
    const snonce = new Uint8Array(12);
    b.seal(key, snonce, sealed.subarray(0, 16), sealed.subarray(16, 16 + size), sealed.subarray(16 + size));
    const work = new Uint8Array(size + 32);
    out[`open ${size} B`] = timeOp(() => {
      work.set(sealed);
      b.open(key, snonce, work.subarray(0, 16), work.subarray(16, 16 + size), work.subarray(16 + size));
    }, budgetMs);
  }
  const seed = new Uint8Array(32).fill(1);
  const msg = new TextEncoder().encode(`scrooge_hello ${'A'.repeat(43)}= ${'A'.repeat(43)}= 1795000000000000`);
  const pk = b.ed25519PublicKey(seed);
  const sig = b.ed25519Sign(msg, seed);
  out['Ed25519 sign'] = timeOp(() => b.ed25519Sign(msg, seed), budgetMs);
  out['Ed25519 verify'] = timeOp(() => b.ed25519Verify(sig, msg, pk), budgetMs);
  const xs = new Uint8Array(32).fill(3);
  const xp = b.x25519PublicKey(new Uint8Array(32).fill(4));
  out['X25519 shared'] = timeOp(() => b.x25519(xs, xp), budgetMs);
  return out;
}

const budget = Number(process.env.BENCH_MS ?? 400);
const results = { sodium: bench(createSodiumBackend(), budget), js: bench(createJsBackend(), budget) };
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const ops = Object.keys(results.sodium);
  const rows = ops.map((op) => {
    const s = results.sodium[op] as number;
    const j = results.js[op] as number;
    return `| ${op.padEnd(15)} | ${s.toFixed(2).padStart(9)} | ${j.toFixed(2).padStart(9)} | ${(j / s).toFixed(1).padStart(6)}x |`;
  });
  process.stdout.write(
    `µs per operation (node ${process.version}, ${budget} ms per cell)\n\n| operation       |    sodium |   pure JS | js/sod |\n|-----------------|-----------|-----------|--------|\n${rows.join('\n')}\n`,
  );
}
