import type { TlogErrorCode } from '../core/index.ts'

/** HTTP status of each error code (STYLE.md "Errors"); anything else is 500. */
export const STATUS_OF: Record<TlogErrorCode, number> = {
  MALFORMED: 400,
  STALE: 400,
  BAD_SIGNATURE: 403,
  UNTRUSTED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BAD_PROOF: 422,
  OVERLOADED: 503,
  CORRUPT: 500,
  REVOKED: 403,
  RATE_LIMITED: 429,
  TIMEOUT: 408,
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 1
