/**
 * The one error class of scrooge. Every error we raise on purpose is a
 * ScroogeError with a stable `code` (never reworded once shipped): decoders,
 * config, the admin API and the CLI all match on `code`, not on messages.
 *
 * It lives in crypto/ because crypto is the bottom layer (src → dataplane →
 * crypto) and everything above must be able to use it.
 */
export type ErrorCode =
  // key material and files
  | 'ERR_KEY_LENGTH'
  | 'ERR_KEY_FILE_FORMAT'
  | 'ERR_KEY_FILE_PERMISSIONS'
  | 'ERR_KEY_FILE_MISSING'
  | 'ERR_KEY_FILE_IO'
  | 'ERR_BASE64'
  | 'ERR_X25519_ZERO'
  | 'ERR_CRYPTO_BACKEND'
  // control-message decoding
  | 'ERR_MSG_TOO_LONG'
  | 'ERR_MSG_EMPTY'
  | 'ERR_MSG_CHARSET'
  | 'ERR_MSG_TYPE'
  | 'ERR_MSG_FIELD_COUNT'
  | 'ERR_MSG_EMPTY_FIELD'
  | 'ERR_MSG_KEY'
  | 'ERR_MSG_SIGNATURE_FORMAT'
  | 'ERR_MSG_SEQ'
  | 'ERR_MSG_ENDPOINT'
  // sequence numbers
  | 'ERR_SEQ_STATE'
  // configuration and usage
  | 'ERR_USAGE'
  | 'ERR_CONFIG'
  | 'ERR_STATE_DIR'
  | 'ERR_LOCKED'
  // system
  | 'ERR_NATIVE'
  | 'ERR_PREFLIGHT'
  | 'ERR_DEVICE'
  | 'ERR_SOCKET'
  | 'ERR_NETLINK'
  | 'ERR_NFTABLES'
  | 'ERR_PERMISSION'
  // admin API
  | 'ERR_API_UNREACHABLE'
  | 'ERR_API_REQUEST'
  | 'ERR_API_NOT_FOUND'
  | 'ERR_API_INTERNAL'
  | 'ERR_NO_SUCH_NEIGHBOR';

export class ScroogeError extends Error {
  readonly code: ErrorCode;
  /** Extra structured detail for logs and the admin API (never secrets). */
  readonly detail: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; detail?: Record<string, string | number | boolean> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScroogeError';
    this.code = code;
    this.detail = options?.detail;
  }
}

export function isScroogeError(e: unknown, code?: ErrorCode): e is ScroogeError {
  return e instanceof ScroogeError && (code === undefined || e.code === code);
}
