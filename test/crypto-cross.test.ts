import anyTest, { type Implementation, type TestFn } from 'ava';
import { createJsBackend } from '../crypto/purejs.js';
import { createSodiumBackend, loadRawAead, loadSodium } from '../crypto/sodium.js';
import { prng, sodiumBackend, toHex } from './helpers/backends.js';

const maybeSodium = sodiumBackend();
const js = createJsBackend();
// Where sodium-native has no build (armv7, s390x) there is nothing to cross-check against: skip, visibly.
const skipped = (title: string, impl: Implementation<[]>) =>
  anyTest.skip(`${title} (skipped: sodium-native has no build for ${process.platform}-${process.arch})`, impl);
const test = (maybeSodium ? anyTest : skipped) as TestFn;
const sodium = maybeSodium ?? js;
const CASES = 1000;

test('sodium and js agree byte for byte: Ed25519 keys and signatures (1000 random cases)', (t) => {
  const r = prng(0x5eed01);
  for (let i = 0; i < CASES; i++) {
    const seed = r.bytes(32);
    const msg = r.bytes(r.int(300));
    const pk = sodium.ed25519PublicKey(seed);
    t.is(toHex(js.ed25519PublicKey(seed)), toHex(pk));
    const sig = sodium.ed25519Sign(msg, seed);
    t.is(toHex(js.ed25519Sign(msg, seed)), toHex(sig));
    // a signer made once for the key signs the same bytes, message after message
    const signer = sodium.ed25519Signer(seed);
    t.is(toHex(signer(msg)), toHex(sig));
    t.is(toHex(signer(msg)), toHex(sig));
    t.is(toHex(js.ed25519Signer(seed)(msg)), toHex(sig));
    t.true(js.ed25519Verify(sig, msg, pk));
    const bad = Uint8Array.from(sig);
    const at = r.int(64);
    bad[at] = (bad[at] as number) ^ (1 << r.int(8));
    t.is(js.ed25519Verify(bad, msg, pk), sodium.ed25519Verify(bad, msg, pk));
  }
});

test('sodium and js agree byte for byte: X25519 (1000 random cases)', (t) => {
  const r = prng(0x5eed02);
  for (let i = 0; i < CASES; i++) {
    const a = r.bytes(32);
    const b = r.bytes(32);
    const pa = sodium.x25519PublicKey(a);
    t.is(toHex(js.x25519PublicKey(a)), toHex(pa));
    const pb = js.x25519PublicKey(b);
    t.is(toHex(sodium.x25519(a, pb)), toHex(js.x25519(a, pb)));
    t.is(toHex(sodium.x25519(b, pa)), toHex(js.x25519(a, pb)));
  }
});

test('sodium and js agree byte for byte: ChaCha20-Poly1305 (1000 random cases)', (t) => {
  const r = prng(0x5eed03);
  for (let i = 0; i < CASES; i++) {
    const key = r.bytes(32);
    const nonce = r.bytes(12);
    const ad = r.bytes(r.int(2) === 0 ? 16 : r.int(40));
    const plain = r.bytes(r.int(1500));
    const d1 = Uint8Array.from(plain);
    const t1 = new Uint8Array(16);
    const d2 = Uint8Array.from(plain);
    const t2 = new Uint8Array(16);
    sodium.seal(key, nonce, ad, d1, t1);
    js.seal(key, nonce, ad, d2, t2);
    t.is(toHex(d1), toHex(d2));
    t.is(toHex(t1), toHex(t2));
    t.true(js.open(key, nonce, ad, d1, t1));
    t.is(toHex(d1), toHex(plain));
    t.true(sodium.open(key, nonce, ad, d2, t2));
    t.is(toHex(d2), toHex(plain));
  }
});

test("sodium's raw AEAD binding loads and agrees with its checked API here; both refuse forgeries alike", (t) => {
  const api = loadSodium();
  t.truthy(loadRawAead(api), 'the data path would fall back to the checked (slower) wrappers');
  const checked = createSodiumBackend(api, undefined);
  const r = prng(0x5eed04);
  for (let i = 0; i < 200; i++) {
    const key = r.bytes(32);
    const nonce = r.bytes(12);
    const ad = r.bytes(16);
    const plain = r.bytes(r.int(1500));
    const d1 = Uint8Array.from(plain);
    const t1 = new Uint8Array(16);
    sodium.seal(key, nonce, ad, d1, t1);
    const d2 = Uint8Array.from(plain);
    const t2 = new Uint8Array(16);
    checked.seal(key, nonce, ad, d2, t2);
    t.is(toHex(t1), toHex(t2));
    const bad = Uint8Array.from(t1);
    const at = r.int(16);
    bad[at] = (bad[at] as number) ^ (1 << r.int(8));
    t.false(sodium.open(key, nonce, ad, Uint8Array.from(d1), bad));
    t.false(checked.open(key, nonce, ad, Uint8Array.from(d1), bad));
    t.true(checked.open(key, nonce, ad, d1, t1));
    t.is(toHex(d1), toHex(plain));
  }
  // a wrong-sized tag never reaches the raw binding (it would abort): the checked API throws instead
  t.throws(() => sodium.seal(r.bytes(32), r.bytes(12), r.bytes(16), new Uint8Array(8), new Uint8Array(15)));
});
