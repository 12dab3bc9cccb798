import { createHmac } from 'node:crypto';
import test from 'ava';
import {
  compareBytes,
  deriveSessionKeys,
  SESSION_KDF_SALT,
  sessionKeysFromShared,
  tunnelKeyPair,
} from '../crypto/index.js';
import { isScroogeError } from '../base/errors.js';
import { bothBackends, prng, toHex } from './helpers/backends.js';

/** RFC 5869 HKDF written out independently of node:crypto.hkdfSync. */
function hkdfReference(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const out = Buffer.alloc(length);
  let prev = Buffer.alloc(0);
  for (let i = 0, off = 0; off < length; i++) {
    prev = createHmac('sha256', prk)
      .update(Buffer.concat([prev, Buffer.from(info), Buffer.from([i + 1])]))
      .digest();
    prev.copy(out, off);
    off += prev.length;
  }
  return new Uint8Array(out);
}

for (const b of bothBackends()) {
  test(`${b.name}: both ends derive mirrored keys and the same session id`, (t) => {
    const r = prng(77);
    for (let i = 0; i < 50; i++) {
      const a = tunnelKeyPair(b, r.bytes(32));
      const c = tunnelKeyPair(b, r.bytes(32));
      const ka = deriveSessionKeys(b, a, c.publicKey);
      const kc = deriveSessionKeys(b, c, a.publicKey);
      t.is(toHex(ka.sendKey), toHex(kc.recvKey));
      t.is(toHex(ka.recvKey), toHex(kc.sendKey));
      t.is(ka.sessionId, kc.sessionId);
      t.not(toHex(ka.sendKey), toHex(ka.recvKey));
    }
  });
}

test('layout: okm[0..32) is the lowPK sender key, [32..64) the highPK sender key, [64..68) the session id LE', (t) => {
  const r = prng(78);
  const shared = r.bytes(32);
  const p1 = r.bytes(32);
  const p2 = r.bytes(32);
  const [low, high] = compareBytes(p1, p2) < 0 ? [p1, p2] : [p2, p1];
  const okm = hkdfReference(shared, new TextEncoder().encode(SESSION_KDF_SALT), new Uint8Array([...low, ...high]), 68);
  const fromLow = sessionKeysFromShared(shared, low, high);
  const fromHigh = sessionKeysFromShared(shared, high, low);
  t.is(toHex(fromLow.sendKey), toHex(okm.subarray(0, 32)));
  t.is(toHex(fromLow.recvKey), toHex(okm.subarray(32, 64)));
  t.is(toHex(fromHigh.sendKey), toHex(okm.subarray(32, 64)));
  const sid = Buffer.from(okm.subarray(64, 68)).readUInt32LE(0);
  t.is(fromLow.sessionId, sid);
  t.is(fromHigh.sessionId, sid);
});

test('a low-order peer key is refused', (t) => {
  for (const b of bothBackends()) {
    const a = tunnelKeyPair(b, prng(1).bytes(32));
    const err = t.throws(() => deriveSessionKeys(b, a, new Uint8Array(32)));
    t.true(isScroogeError(err, 'ERR_X25519_ZERO'));
  }
});
