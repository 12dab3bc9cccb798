/**
 * Tunnel key agreement and session-key derivation (DESIGN.md, "Tunnel data
 * protocol"):
 *
 *   shared = X25519(myTunnelSK, peerTunnelPK)          (all-zero rejected)
 *   okm    = HKDF-SHA256(ikm = shared, salt = "scrooge tunnel v1",
 *                        info = lowPK || highPK, L = 68)
 *   okm[0..32)  key for traffic sent by the owner of lowPK
 *   okm[32..64) key for traffic sent by the owner of highPK
 *   okm[64..68) session id, u32 little endian
 *
 * lowPK/highPK are the two X25519 tunnel public keys in bytewise order.
 */
import { CryptoError } from './errors.js';
import { hkdfSync } from 'node:crypto';
import { type CryptoBackend, X25519_KEY_BYTES } from './backend.js';
import { bytesEqual, compareBytes } from './encoding.js';

export const SESSION_KDF_SALT = 'scrooge tunnel v1';
export const SESSION_OKM_BYTES = 68;

export interface TunnelKeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface SessionKeys {
  /** Key for the packets we send. */
  readonly sendKey: Uint8Array;
  /** Key for the packets the peer sends. */
  readonly recvKey: Uint8Array;
  /** Session id carried in every data packet header. */
  readonly sessionId: number;
}

/** A tunnel key pair from 32 random bytes the caller supplies. */
export function tunnelKeyPair(backend: CryptoBackend, secret: Uint8Array): TunnelKeyPair {
  if (secret.length !== X25519_KEY_BYTES) {
    throw new CryptoError('ERR_KEY_LENGTH', `tunnel secret must be ${X25519_KEY_BYTES} bytes`);
  }
  const secretKey = Uint8Array.from(secret);
  return { secretKey, publicKey: backend.x25519PublicKey(secretKey) };
}

/** HKDF step alone, from a shared secret (exported for test vectors). */
export function sessionKeysFromShared(shared: Uint8Array, myPublic: Uint8Array, peerPublic: Uint8Array): SessionKeys {
  if (bytesEqual(myPublic, peerPublic)) {
    throw new CryptoError('ERR_KEY_LENGTH', 'peer tunnel key equals our own tunnel key');
  }
  const weAreLow = compareBytes(myPublic, peerPublic) < 0;
  const info = new Uint8Array(2 * X25519_KEY_BYTES);
  info.set(weAreLow ? myPublic : peerPublic, 0);
  info.set(weAreLow ? peerPublic : myPublic, X25519_KEY_BYTES);
  const okm = new Uint8Array(hkdfSync('sha256', shared, SESSION_KDF_SALT, info, SESSION_OKM_BYTES));
  const lowKey = okm.slice(0, 32);
  const highKey = okm.slice(32, 64);
  const sessionId = new DataView(okm.buffer, okm.byteOffset + 64, 4).getUint32(0, true);
  okm.fill(0);
  return weAreLow ? { sendKey: lowKey, recvKey: highKey, sessionId } : { sendKey: highKey, recvKey: lowKey, sessionId };
}

/** Full agreement: X25519 then HKDF. Throws ERR_X25519_ZERO for a low-order peer key. */
export function deriveSessionKeys(backend: CryptoBackend, mine: TunnelKeyPair, peerPublic: Uint8Array): SessionKeys {
  const shared = backend.x25519(mine.secretKey, peerPublic);
  try {
    return sessionKeysFromShared(shared, mine.publicKey, peerPublic);
  } finally {
    shared.fill(0);
  }
}
