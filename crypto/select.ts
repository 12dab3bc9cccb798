import { isScroogeError } from '../base/errors.js';
import type { BackendName, CryptoBackend } from './backend.js';
import { createJsBackend } from './purejs.js';
import { createSodiumBackend } from './sodium.js';

export type BackendPreference = BackendName | 'auto';

export interface SelectedBackend {
  backend: CryptoBackend;
  /** Why `auto` fell back to the JS backend, when it did. */
  fallbackReason?: string;
}

/**
 * Picks a backend. `auto` uses libsodium and falls back to pure JS when
 * sodium-native cannot load; `sodium` insists (throws ERR_CRYPTO_BACKEND).
 */
export function selectBackend(preference: BackendPreference = 'auto'): SelectedBackend {
  if (preference === 'js') return { backend: createJsBackend() };
  try {
    return { backend: createSodiumBackend() };
  } catch (e) {
    if (preference === 'sodium') throw e;
    const reason = isScroogeError(e) ? e.message : String(e);
    return { backend: createJsBackend(), fallbackReason: reason };
  }
}
