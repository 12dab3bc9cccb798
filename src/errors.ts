/** The control plane's error codes (the class and its contract: base/errors.ts). */
import { ScroogeError } from '../base/errors.js';

export type ControlErrorCode =
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
  // key files
  | 'ERR_KEY_FILE_PERMISSIONS'
  | 'ERR_KEY_FILE_MISSING'
  | 'ERR_KEY_FILE_IO'
  // configuration, usage and the host
  | 'ERR_USAGE'
  | 'ERR_CONFIG'
  | 'ERR_STATE_DIR'
  | 'ERR_LOCKED'
  | 'ERR_PREFLIGHT'
  | 'ERR_NFTABLES'
  | 'ERR_PERMISSION'
  // admin API
  | 'ERR_API_UNREACHABLE'
  | 'ERR_API_REQUEST'
  | 'ERR_API_NOT_FOUND'
  | 'ERR_API_INTERNAL';

export class ControlError extends ScroogeError<ControlErrorCode> {}
