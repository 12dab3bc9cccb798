import { type CryptoBackend, selectBackend } from '../../crypto/index.js';
import { createJsBackend } from '../../crypto/purejs.js';
import { createSodiumBackend } from '../../crypto/sodium.js';

/**
 * sodium-native ships prebuilds for linux x64 and arm64: there it must load
 * (it is the default data path). Elsewhere (armv7, s390x) it cannot, and the
 * pure-JS backend is the product's crypto.
 */
export const SODIUM_EXPECTED = process.platform !== 'linux' || ['x64', 'arm64'].includes(process.arch);

/** libsodium, or undefined where sodium-native has no build (never undefined on x64/arm64). */
export function sodiumBackend(): CryptoBackend | undefined {
  try {
    return createSodiumBackend();
  } catch (e) {
    if (SODIUM_EXPECTED) throw e;
    return undefined;
  }
}

/** Every backend that runs here: libsodium (where it can) and pure JS. */
export function bothBackends(): CryptoBackend[] {
  const sodium = sodiumBackend();
  return sodium ? [sodium, createJsBackend()] : [createJsBackend()];
}

/** libsodium where it loads; SCROOGE_TEST_CRYPTO=js runs the tests on the pure-JS backend (as armv7 does). */
export function defaultTestBackend(): CryptoBackend {
  return selectBackend(process.env.SCROOGE_TEST_CRYPTO === 'js' ? 'js' : 'auto').backend;
}

export const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export { prng } from '../../tools/prng.js';
