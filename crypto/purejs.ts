/**
 * Portable pure-JS backend: @noble/ed25519, @stablelib/x25519,
 * @stablelib/chacha20poly1305. SHA-512 for Ed25519 comes from node:crypto.
 *
 * ~10x slower per AEAD packet than libsodium; used when sodium-native cannot
 * load, and as an independent cross-check of the default backend in tests.
 */
import { CryptoError } from './errors.js';
import { createHash } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { ChaCha20Poly1305 } from '@stablelib/chacha20poly1305';
import { scalarMult, scalarMultBase } from '@stablelib/x25519';
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type CryptoBackend,
  checkLength,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SEED_BYTES,
  ED25519_SIGNATURE_BYTES,
  X25519_KEY_BYTES,
} from './backend.js';
import { isAllZero } from './encoding.js';

function sha512(message: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha512').update(message).digest());
}

export function createJsBackend(): CryptoBackend {
  // noble needs a synchronous SHA-512; setting it is idempotent.
  ed.hashes.sha512 = sha512;

  function aead(key: Uint8Array, nonce: Uint8Array, tag: Uint8Array): ChaCha20Poly1305 {
    checkLength('AEAD key', key, AEAD_KEY_BYTES);
    checkLength('AEAD nonce', nonce, AEAD_NONCE_BYTES);
    checkLength('AEAD tag', tag, AEAD_TAG_BYTES);
    return new ChaCha20Poly1305(key);
  }

  return {
    name: 'js',
    ed25519PublicKey(seed) {
      checkLength('Ed25519 seed', seed, ED25519_SEED_BYTES);
      return ed.getPublicKey(seed);
    },
    ed25519Sign(message, seed) {
      checkLength('Ed25519 seed', seed, ED25519_SEED_BYTES);
      return ed.sign(message, seed);
    },
    ed25519Signer(seed) {
      checkLength('Ed25519 seed', seed, ED25519_SEED_BYTES);
      const own = Uint8Array.from(seed);
      return (message) => ed.sign(message, own);
    },
    ed25519Verify(signature, message, publicKey) {
      if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
        return false;
      }
      try {
        return ed.verify(signature, message, publicKey, { zip215: false });
      } catch {
        return false;
      }
    },
    x25519PublicKey(secret) {
      checkLength('X25519 secret', secret, X25519_KEY_BYTES);
      return scalarMultBase(secret);
    },
    x25519(secret, peerPublic) {
      checkLength('X25519 secret', secret, X25519_KEY_BYTES);
      checkLength('X25519 public key', peerPublic, X25519_KEY_BYTES);
      const q = scalarMult(secret, peerPublic);
      if (isAllZero(q)) throw new CryptoError('ERR_X25519_ZERO', 'X25519 result is all zero (low-order peer key)');
      return q;
    },
    seal(key, nonce, ad, data, tag) {
      const sealed = aead(key, nonce, tag).seal(nonce, data, ad);
      data.set(sealed.subarray(0, data.length));
      tag.set(sealed.subarray(data.length));
    },
    open(key, nonce, ad, data, tag) {
      let cipher: ChaCha20Poly1305;
      try {
        cipher = aead(key, nonce, tag);
      } catch {
        return false;
      }
      const sealed = new Uint8Array(data.length + AEAD_TAG_BYTES);
      sealed.set(data);
      sealed.set(tag, data.length);
      const plain = cipher.open(nonce, sealed, ad);
      if (plain === null) return false;
      data.set(plain);
      return true;
    },
  };
}
