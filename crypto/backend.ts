/**
 * The primitives scrooge needs, behind one small interface with two
 * implementations:
 *
 * - `sodium`: libsodium through sodium-native (default; ~9x faster per packet)
 * - `js`:     @noble/ed25519, @stablelib/x25519, @stablelib/chacha20poly1305
 *             (portable fallback, used when sodium-native cannot load, and a
 *             cross-check in tests)
 *
 * Both are pure: no clock, no randomness of their own (callers pass seeds and
 * secrets), no I/O. AEAD is ChaCha20-Poly1305 (RFC 8439) with a 12-byte nonce,
 * working in place on a caller's buffer with a detached 16-byte tag.
 */
import { CryptoError } from './errors.js';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_KEY_BYTES = 32;
export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export type BackendName = 'sodium' | 'js';

export interface CryptoBackend {
  readonly name: BackendName;

  /** Ed25519 public key for a 32-byte seed (RFC 8032 §5.1.5). */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** Ed25519 signature (64 bytes) of `message` by the key of `seed`. */
  ed25519Sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  /**
   * A signer for one key: the same signatures as ed25519Sign, with whatever the backend can
   * derive from the seed once (libsodium's expanded secret key) done once, not per message.
   */
  ed25519Signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array;
  /** RFC 8032 verification (strict: no ZIP-215 leniency). Never throws. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;

  /** X25519 public key of a 32-byte secret (clamped as RFC 7748 says). */
  x25519PublicKey(secret: Uint8Array): Uint8Array;
  /** X25519(secret, peerPublic). Throws ERR_X25519_ZERO on an all-zero result. */
  x25519(secret: Uint8Array, peerPublic: Uint8Array): Uint8Array;

  /**
   * Encrypts `data` in place and writes the tag into `tag`.
   * key: 32 bytes, nonce: 12 bytes, tag: 16 bytes. Never throws for valid sizes.
   */
  seal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, data: Uint8Array, tag: Uint8Array): void;
  /**
   * Verifies `tag` and decrypts `data` in place. Returns false (and leaves
   * `data` unspecified) when the tag does not verify. Never throws.
   */
  open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, data: Uint8Array, tag: Uint8Array): boolean;
}

export function checkLength(what: string, bytes: Uint8Array, n: number): void {
  if (bytes.length !== n) {
    throw new CryptoError('ERR_KEY_LENGTH', `${what} must be ${n} bytes, got ${bytes.length}`);
  }
}
