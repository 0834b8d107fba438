import { UsageError } from './files.ts'

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Returns milliseconds for a duration like `90d`, `12h`, `30m` or `45s`. */
export function parseDuration(s: string, what: string): number {
  const m = /^([0-9]{1,9})([smhd])$/.exec(s)
  if (m === null) throw new UsageError(`${what} must be a duration such as 90d, 12h, 30m or 45s (got ${JSON.stringify(s)})`)
  return Number(m[1]) * UNITS[m[2]!]!
}

/** Returns ms since the epoch for an RFC 3339 time (e.g. 2026-01-01T00:00:00Z) or a plain millisecond count. */
export function parseTime(s: string, what: string): number {
  if (/^[0-9]{1,16}$/.test(s)) return Number(s)
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    throw new UsageError(`${what} must be an RFC 3339 time such as 2026-01-01T00:00:00Z (got ${JSON.stringify(s)})`)
  }
  const t = Date.parse(s)
  if (Number.isNaN(t)) throw new UsageError(`${what} is not a valid time: ${s}`)
  return t
}
