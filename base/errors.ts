/**
 * The error class of scrooge. Every error we raise on purpose is a ScroogeError
 * with a stable `code` (never reworded once shipped): decoders, config, the
 * admin API and the CLI all match on `code`, not on messages.
 *
 * Each layer owns its codes and raises them through its own subclass, so a code
 * can only come from the layer that defines it:
 *   crypto/errors.ts     CryptoError     keys, encodings, the crypto backend
 *   dataplane/errors.ts  DataplaneError  the addon, devices, sockets, bad arguments
 *   src/errors.ts        ControlError    messages, config, state, filter, admin API, CLI usage
 */
export type ErrorDetail = Readonly<Record<string, string | number | boolean>>;

export interface ErrorOptions {
  cause?: unknown;
  /** Extra structured detail for logs and the admin API (never secrets). */
  detail?: Record<string, string | number | boolean>;
}

export class ScroogeError<C extends string = string> extends Error {
  readonly code: C;
  readonly detail: ErrorDetail | undefined;

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScroogeError';
    this.code = code;
    this.detail = options?.detail;
  }
}

export function isScroogeError(e: unknown, code?: string): e is ScroogeError {
  return e instanceof ScroogeError && (code === undefined || e.code === code);
}
