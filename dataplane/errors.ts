/** The data plane's error codes (the class and its contract: base/errors.ts). */
import { ScroogeError } from '../base/errors.js';

export type DataplaneErrorCode =
  /** The native addon is missing or cannot load. */
  | 'ERR_NATIVE'
  /** A TUN device could not be created or configured. */
  | 'ERR_DEVICE'
  /** A UDP socket could not be opened, bound or listened on (also the control plane's sockets). */
  | 'ERR_SOCKET'
  /** A bad address, prefix, name or scheduler given to the data plane (the config layer names the setting). */
  | 'ERR_INVALID_ARGUMENT';

export class DataplaneError extends ScroogeError<DataplaneErrorCode> {}
