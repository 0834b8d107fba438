/**
 * Stable error codes of actlog. Codes are API: callers and HTTP clients
 * branch on them, so they never change meaning; messages may.
 */
export type TlogErrorCode =
  | 'MALFORMED'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'STALE'
  | 'BAD_SIGNATURE'
  | 'UNTRUSTED'
  | 'BAD_PROOF'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'OVERLOADED'
  | 'CORRUPT'
  | 'REVOKED'
  | 'RATE_LIMITED'
  | 'TIMEOUT'

/** Every code, in the order the style guide lists them. */
export const TLOG_ERROR_CODES: readonly TlogErrorCode[] = [
  'MALFORMED',
  'TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'STALE',
  'BAD_SIGNATURE',
  'UNTRUSTED',
  'BAD_PROOF',
  'CONFLICT',
  'NOT_FOUND',
  'OVERLOADED',
  'CORRUPT',
  'REVOKED',
  'RATE_LIMITED',
  'TIMEOUT',
]

/**
 * The error every parser and checker throws on bad input. Misuse by the
 * caller (wrong argument types, bad configuration) throws TypeError or
 * RangeError instead, and is never caught.
 */
export class TlogError extends Error {
  override name = 'TlogError'
  readonly code: TlogErrorCode
  constructor(code: TlogErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts)
    this.code = code
  }
}

/** Returns true when `err` is a TlogError, with the given code if one is given. */
export function isTlogError(err: unknown, code?: TlogErrorCode): err is TlogError {
  return err instanceof TlogError && (code === undefined || err.code === code)
}
