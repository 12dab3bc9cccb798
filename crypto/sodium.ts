/**
 * libsodium backend through sodium-native (the default).
 *
 * sodium-native is loaded with createRequire so that a machine where it cannot
 * load (no prebuild for the platform) falls back to the pure-JS backend.
 */
import { CryptoError } from './errors.js';
import { createRequire } from 'node:module';
import * as backend from './backend.js';
import { isAllZero } from './encoding.js';

/** The part of sodium-native's API we use. */
interface SodiumApi {
  crypto_sign_seed_keypair: (pk: Uint8Array, sk: Uint8Array, seed: Uint8Array) => void;
  crypto_sign_detached: (sig: Uint8Array, m: Uint8Array, sk: Uint8Array) => void;
  crypto_sign_verify_detached: (sig: Uint8Array, m: Uint8Array, pk: Uint8Array) => boolean;
  crypto_scalarmult_base: (q: Uint8Array, n: Uint8Array) => void;
  crypto_scalarmult: (q: Uint8Array, n: Uint8Array, p: Uint8Array) => void;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached: (
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ) => number;
  crypto_aead_chacha20poly1305_ietf_decrypt_detached: (
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ) => void;
}

/** Loads sodium-native; throws ERR_CRYPTO_BACKEND with the reason if it cannot. */
export function loadSodium(): SodiumApi {
  try {
    const require = createRequire(import.meta.url);
    const api = require('sodium-native') as SodiumApi;
    if (typeof api.crypto_aead_chacha20poly1305_ietf_encrypt_detached !== 'function') {
      throw new Error('sodium-native lacks crypto_aead_chacha20poly1305_ietf_*');
    }
    return api;
  } catch (e) {
    throw new CryptoError('ERR_CRYPTO_BACKEND', `sodium-native cannot load: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export function createSodiumBackend(api: SodiumApi = loadSodium()): backend.CryptoBackend {
  const encrypt = api.crypto_aead_chacha20poly1305_ietf_encrypt_detached;
  const decrypt = api.crypto_aead_chacha20poly1305_ietf_decrypt_detached;

  function keyPair(seed: Uint8Array): { pk: Uint8Array; sk: Uint8Array } {
    backend.checkLength('Ed25519 seed', seed, backend.ED25519_SEED_BYTES);
    const pk = new Uint8Array(backend.ED25519_PUBLIC_KEY_BYTES);
    const sk = new Uint8Array(64);
    api.crypto_sign_seed_keypair(pk, sk, seed);
    return { pk, sk };
  }

  return {
    name: 'sodium',
    ed25519PublicKey(seed) {
      return keyPair(seed).pk;
    },
    ed25519Sign(message, seed) {
      const { sk } = keyPair(seed);
      const sig = new Uint8Array(backend.ED25519_SIGNATURE_BYTES);
      api.crypto_sign_detached(sig, message, sk);
      sk.fill(0);
      return sig;
    },
    ed25519Verify(signature, message, publicKey) {
      if (
        signature.length !== backend.ED25519_SIGNATURE_BYTES ||
        publicKey.length !== backend.ED25519_PUBLIC_KEY_BYTES
      ) {
        return false;
      }
      try {
        return api.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },
    x25519PublicKey(secret) {
      backend.checkLength('X25519 secret', secret, backend.X25519_KEY_BYTES);
      const q = new Uint8Array(backend.X25519_KEY_BYTES);
      api.crypto_scalarmult_base(q, secret);
      return q;
    },
    x25519(secret, peerPublic) {
      backend.checkLength('X25519 secret', secret, backend.X25519_KEY_BYTES);
      backend.checkLength('X25519 public key', peerPublic, backend.X25519_KEY_BYTES);
      const q = new Uint8Array(backend.X25519_KEY_BYTES);
      try {
        // libsodium itself refuses (returns -1) when the result is all zero.
        api.crypto_scalarmult(q, secret, peerPublic);
      } catch {
        throw new CryptoError('ERR_X25519_ZERO', 'X25519 result is all zero (low-order peer key)');
      }
      if (isAllZero(q)) throw new CryptoError('ERR_X25519_ZERO', 'X25519 result is all zero (low-order peer key)');
      return q;
    },
    seal(key, nonce, ad, data, tag) {
      encrypt(data, tag, data, ad, null, nonce, key);
    },
    open(key, nonce, ad, data, tag) {
      try {
        decrypt(data, null, data, tag, ad, nonce, key);
        return true;
      } catch {
        return false;
      }
    },
  };
}
