/** The crypto layer's error codes (the class and its contract: base/errors.ts). */
import { ScroogeError } from '../base/errors.js';

export type CryptoErrorCode =
  'ERR_KEY_LENGTH' | 'ERR_KEY_FILE_FORMAT' | 'ERR_BASE64' | 'ERR_X25519_ZERO' | 'ERR_CRYPTO_BACKEND';

export class CryptoError extends ScroogeError<CryptoErrorCode> {}
