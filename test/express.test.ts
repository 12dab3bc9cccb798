/**
 * The native lone-packet path's pieces that need no root: its counter slots
 * line up with TunnelCounters, its AEAD (OpenSSL, aead.c) agrees byte for
 * byte with the JS backends, and its replay window with crypto/replay.ts.
 * The path itself runs in test/dataplane.integration.test.ts (real TUN, UDP).
 */
import anyTest, { type TestFn } from 'ava';
import { REPLAY_WINDOW, ReplayWindow } from '../crypto/index.js';
import { createJsBackend } from '../crypto/purejs.js';
import { native } from '../dataplane/native.js';
import { SHARED_SLOTS, TunnelCore } from '../dataplane/session.js';
import { prng, sodiumBackend, toHex } from './helpers/backends.js';

const X = native().Express;
const why = X.available();
const test = (
  why === null ? anyTest : (title: string) => anyTest.skip(`${title} (skipped: no native AEAD here: ${why})`, () => {})
) as TestFn;

anyTest('the addon and TunnelCounters name the same shared slots in the same order', (t) => {
  t.deepEqual([...X.SLOTS], [...SHARED_SLOTS]);
  const core = new TunnelCore(createJsBackend());
  t.is(core.counters.slots.length, SHARED_SLOTS.length);
  core.counters.rxBytes = 7;
  core.lastAuthRecvMs = 42;
  t.is(core.counters.slots[SHARED_SLOTS.indexOf('rxBytes')], 7);
  t.is(core.counters.slots[SHARED_SLOTS.indexOf('lastAuthRecvMs')], 42);
  t.is(core.lastSendMs, Number.NEGATIVE_INFINITY);
  t.false('lastAuthRecvMs' in core.counters.toRecord());
});

test('the native AEAD agrees with the JS backends byte for byte (sizes 0-1500, 2000 random cases)', (t) => {
  const r = prng(0xe5e1);
  const backends = [createJsBackend(), sodiumBackend()].filter((b) => b !== undefined);
  for (let i = 0; i < 2000; i++) {
    const key = r.bytes(32);
    const nonce = r.bytes(12);
    const ad = r.bytes(r.int(2) === 0 ? 16 : r.int(40));
    const plain = r.bytes(i < 64 ? i : r.int(1501));
    const data = Uint8Array.from(plain);
    const tag = new Uint8Array(16);
    t.true(X.aead(true, key, nonce, ad, data, tag));
    for (const b of backends) {
      const d2 = Uint8Array.from(plain);
      const t2 = new Uint8Array(16);
      b.seal(key, nonce, ad, d2, t2);
      if (toHex(d2) !== toHex(data) || toHex(t2) !== toHex(tag)) return t.fail(`case ${i}: ciphertexts differ`);
      const d3 = Uint8Array.from(data);
      if (!b.open(key, nonce, ad, d3, Uint8Array.from(tag))) return t.fail(`case ${i}: backend cannot open`);
    }
    // a flipped bit anywhere (ciphertext, tag or associated data) must fail to open
    const which = r.int(3);
    const c = Uint8Array.from(data);
    const tg = Uint8Array.from(tag);
    const a = Uint8Array.from(ad);
    const target = which === 0 && c.length > 0 ? c : which === 1 || a.length === 0 ? tg : a;
    const at = r.int(target.length);
    target[at] = (target[at] as number) ^ (1 << r.int(8));
    if (X.aead(false, key, nonce, a, c, tg)) return t.fail(`case ${i}: a forgery opened`);
    const ok = Uint8Array.from(data);
    if (!X.aead(false, key, nonce, ad, ok, Uint8Array.from(tag)) || toHex(ok) !== toHex(plain))
      return t.fail(`case ${i}: did not open to the plaintext`);
  }
});

test('the native replay window agrees with crypto/replay.ts on random sequences (jumps, reordering, replays)', (t) => {
  const r = prng(0x7e91a);
  for (let run = 0; run < 40; run++) {
    const js = new ReplayWindow();
    const nat = new ReplayWindow(); // its arrays, driven only by the addon
    let top = 0;
    for (let i = 0; i < 3000; i++) {
      const kind = r.int(10);
      let n: number;
      if (kind < 5) n = top + 1 + r.int(3);
      else if (kind < 7) n = Math.max(0, top - r.int(REPLAY_WINDOW + 64));
      else if (kind < 8) n = top + r.int(REPLAY_WINDOW * 3);
      else if (kind < 9)
        n = top; // a replay of the newest
      else n = Math.max(0, top - REPLAY_WINDOW + r.int(3) - 1); // the window's edge
      top = Math.max(top, n);
      const want = js.check(n);
      const accept = r.int(4) !== 0; // sometimes only checked (a bad tag)
      if (want && accept) js.accept(n);
      const got = X.replay(nat.mark, nat.ring, REPLAY_WINDOW, n, accept);
      if (got !== want) return t.fail(`run ${run} step ${i}: counter ${n}: js ${want}, native ${got}`);
    }
    t.is(nat.highest, js.highest);
    t.deepEqual([...nat.ring], [...js.ring]);
  }
});
