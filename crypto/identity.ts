/**
 * Node identity: an Ed25519 key pair made from a 32-byte seed.
 *
 * Key file format: standard padded base64 of the seed, then a newline
 * (45 bytes). Reading and writing the file (with its permission rules) is in
 * src/keyfile.ts; this module only converts.
 */
import { CryptoError } from './errors.js';
import { type CryptoBackend, ED25519_SEED_BYTES } from './backend.js';
import { fromBase64Exact, toBase64 } from './encoding.js';

export interface Identity {
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The public key as standard padded base64 (44 characters). */
  readonly publicKeyBase64: string;
  /** Ed25519 signature of `message` (64 bytes). */
  sign(message: Uint8Array): Uint8Array;
  /** The secret seed; only for writing key files. */
  readonly seed: Uint8Array;
}

export function identityFromSeed(backend: CryptoBackend, seed: Uint8Array): Identity {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new CryptoError('ERR_KEY_LENGTH', `identity seed must be ${ED25519_SEED_BYTES} bytes, got ${seed.length}`);
  }
  const own = Uint8Array.from(seed);
  const publicKey = backend.ed25519PublicKey(own);
  const sign = backend.ed25519Signer(own);
  return {
    publicKey,
    publicKeyBase64: toBase64(publicKey),
    seed: own,
    sign,
  };
}

/** The key file text for a seed. */
export function formatKeyFile(seed: Uint8Array): string {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new CryptoError('ERR_KEY_LENGTH', `identity seed must be ${ED25519_SEED_BYTES} bytes, got ${seed.length}`);
  }
  return `${toBase64(seed)}\n`;
}

/**
 * Parses key file text: base64 of 32 bytes, one optional trailing newline
 * ("\n" or "\r\n"), nothing else.
 */
export function parseKeyFile(text: string, where = 'key file'): Uint8Array {
  const body = text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
  try {
    return fromBase64Exact(body, ED25519_SEED_BYTES, where);
  } catch {
    throw new CryptoError(
      'ERR_KEY_FILE_FORMAT',
      `${where}: expected one line of standard base64 encoding a 32-byte Ed25519 seed (44 characters); create one with \`scrooge keygen\``,
    );
  }
}
