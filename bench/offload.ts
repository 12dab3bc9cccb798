/**
 * Where TUN offload work belongs, measured: the cost per MTU-sized packet of
 * splitting a 64 KiB TCP super-packet and of coalescing a run back, in the
 * native addon (dataplane/native/offload.c, what scrooge runs), against the
 * same checksum done in TypeScript, with the AEAD seal of the same packet for
 * scale. No root needed.
 *
 *   npm run build && node dist/bench/offload.js [--rounds 2000]
 */
import { benchOption } from '../tools/args.js';
import { selectBackend } from '../crypto/index.js';
import { native } from '../dataplane/native.js';
import { HEADER_BYTES, TAG_BYTES } from '../dataplane/packet.js';
import { TunnelCore } from '../dataplane/session.js';
import { flow, packet, superPacket, sum16, fold, bytes } from '../tools/packets.js';

const ROUNDS = Number(benchOption('rounds', '2000'));
const n = native();
const MSS = 1380;

function time(what: string, perRound: number, fn: () => void): number {
  for (let i = 0; i < ROUNDS / 10; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / ROUNDS / perRound;
  process.stdout.write(`| ${what} | ${(ns / 1000).toFixed(3)} |\n`);
  return ns;
}

const f = flow(false, true);
const data = bytes(47 * MSS, 1);
const sp = superPacket(f, data, MSS);
const segs = Math.ceil(data.length / MSS);
const SLOT = 1472;
const slab = new Uint8Array(SLOT * 64);
const meta = new Int32Array(64 * 4);

// a run of segments laid out as the receive path has them (one per slot)
const run = new Uint8Array(SLOT * segs);
const runMeta = new Int32Array(segs * 4);
for (let i = 0; i < segs; i++) {
  const p = packet(f, data.subarray(i * MSS, Math.min(data.length, (i + 1) * MSS)), { seq: 1000 + i * MSS, id: i });
  run.set(p, i * SLOT + 16);
  runMeta[i * 4] = i * SLOT + 16;
  runMeta[i * 4 + 1] = p.length;
}
const out = new Uint8Array(run.length + 1024);
const outMeta = new Int32Array(segs * 4);

// the TypeScript checksum of one segment (pseudo-header + 1400 bytes), as a JS segmenter would compute it
const one = packet(f, data.subarray(0, MSS));
let sink = 0;

const core = new TunnelCore(selectBackend('auto').backend);
core.install({ sendKey: new Uint8Array(32), recvKey: new Uint8Array(32), sessionId: 1 }, 0, 'responder');
const sealBuf = new Uint8Array(HEADER_BYTES + 1420 + TAG_BYTES);

process.stdout.write(
  `bench/offload: ${ROUNDS} rounds, a ${sp.length - 10}-byte TCP super-packet = ${segs} segments of ${MSS}\n\n`,
);
process.stdout.write('| per MTU-sized packet | µs |\n|---|---|\n');
const split = time('split (native: copy, headers, TCP checksum)', segs, () => {
  sink += n.tunSegment(sp, sp.length, slab, meta, SLOT, 16, 16);
});
const coalesce = time('coalesce (native: verify checksum, plan, iovec; copy for the test only)', segs, () => {
  sink += n.tunCoalesce(run, runMeta, 0, segs, true, out, outMeta);
});
const js = time('TCP checksum alone in TypeScript', 1, () => {
  sink += fold(sum16(one, 20));
});
const seal = time('AEAD seal of the packet (libsodium), for scale', 1, () => {
  sink += core.seal(sealBuf, 0, 1400, 0);
});
process.stdout.write(
  `\nsplit + coalesce natively: ${((split + coalesce) / seal).toFixed(2)}x a seal; ` +
    `the checksum alone in TypeScript: ${(js / seal).toFixed(2)}x a seal, ${(js / split).toFixed(1)}x the whole native split\n`,
);
if (sink === 0.5) process.stdout.write('\n');
