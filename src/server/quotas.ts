import { TlogError } from '../core/index.ts'
import type { BucketConfig, QuotaConfig } from './config.ts'

/** A refusal for being over quota; `retryAfterSeconds` is when the bucket holds a token again (the 429's `Retry-After`). */
export class RateLimited extends TlogError {
  override name = 'RateLimited'
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('RATE_LIMITED', message)
  }
}

/** Which bucket refused. */
export type QuotaKind = 'identity' | 'organisation'

/** Most buckets kept per kind: beyond it, full buckets are dropped, then the oldest. */
const MAX_BUCKETS = 100_000

interface Bucket {
  tokens: number
  /** When `tokens` was worked out, in ms. */
  at: number
}

/**
 * Token buckets of submissions, one per identity and one per organisation,
 * refilled continuously on the log's clock. A bucket that is full is the
 * same as no bucket, so only buckets that were spent from are kept.
 *
 * Keys are what a verified chain proves: `spend` is called only after the
 * signature and chain check, with the actor and the organisation of the
 * trusted issuer the chain ends at. `check`, before the check, only
 * refuses what `spend` would refuse; it spends nothing, so a forged
 * statement naming someone else's identity costs that identity nothing.
 */
export class Quotas {
  readonly #config: QuotaConfig
  readonly #now: () => number
  readonly #buckets: Record<QuotaKind, Map<string, Bucket>> = { identity: new Map(), organisation: new Map() }
  /** Called with the organisation and the bucket that refused, for the metrics. */
  readonly #onRefused: (organisation: string, kind: QuotaKind) => void

  constructor(config: QuotaConfig, now: () => number, onRefused: (organisation: string, kind: QuotaKind) => void = () => {}) {
    for (const kind of ['identity', 'organisation'] as const) {
      const b = config[kind]
      if (!(b.perSecond > 0) || !(b.burst >= 1)) throw new RangeError(`quotas.${kind} needs perSecond > 0 and burst >= 1`)
    }
    this.#config = config
    this.#now = now
    this.#onRefused = onRefused
  }

  /**
   * Throws RateLimited when the identity's or the organisation's bucket
   * holds less than one token; spends nothing. `organisation` is undefined
   * when the statement names no trusted issuer (its chain check refuses it).
   */
  check(identity: string, organisation: string | undefined): void {
    const now = this.#now()
    this.#refuseIfEmpty('identity', identity, organisation, now)
    if (organisation !== undefined) this.#refuseIfEmpty('organisation', organisation, organisation, now)
  }

  /** Takes one token from each bucket, or throws RateLimited and takes none. */
  spend(identity: string, organisation: string): void {
    this.check(identity, organisation)
    const now = this.#now()
    this.#take('identity', identity, now, -1)
    this.#take('organisation', organisation, now, -1)
  }

  /** Gives back what `spend` took, for a submission that did not add an entry after all (a duplicate, a refusal by the queue). */
  refund(identity: string, organisation: string): void {
    const now = this.#now()
    this.#take('identity', identity, now, 1)
    this.#take('organisation', organisation, now, 1)
  }

  #refuseIfEmpty(kind: QuotaKind, key: string, organisation: string | undefined, now: number): void {
    const b = this.#buckets[kind].get(key)
    if (b === undefined) return
    const c = this.#config[kind]
    const tokens = this.#tokens(b, c, now)
    if (tokens >= 1) return
    this.#onRefused(organisation ?? '', kind)
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - tokens) / c.perSecond))
    const who = kind === 'identity' ? `identity ${key}` : `organisation ${key}`
    throw new RateLimited(`${who} is over its quota of ${c.perSecond} statements/s (bursts of ${c.burst}); retry in ${retryAfterSeconds} s`, retryAfterSeconds)
  }

  #tokens(b: Bucket, c: BucketConfig, now: number): number {
    return Math.min(c.burst, b.tokens + (Math.max(0, now - b.at) * c.perSecond) / 1000)
  }

  #take(kind: QuotaKind, key: string, now: number, delta: number): void {
    const map = this.#buckets[kind]
    const c = this.#config[kind]
    const b = map.get(key)
    if (b === undefined) {
      if (delta > 0) return
      if (map.size >= MAX_BUCKETS) this.#evict(map, c, now)
      map.set(key, { tokens: c.burst + delta, at: now })
      return
    }
    b.tokens = Math.min(c.burst, this.#tokens(b, c, now) + delta)
    b.at = now
  }

  /**
   * Drops the full buckets (no different from none); if that frees less
   * than a tenth, the oldest too, down to nine tenths: a sweep then comes
   * at most once per MAX_BUCKETS / 10 new keys. A dropped bucket that was
   * not full starts full again: the price of a bound on memory, paid only
   * by someone with more than MAX_BUCKETS verified identities.
   */
  #evict(map: Map<string, Bucket>, c: BucketConfig, now: number): void {
    for (const [k, b] of map) if (this.#tokens(b, c, now) >= c.burst) map.delete(k)
    const keep = Math.floor(MAX_BUCKETS * 0.9)
    for (const k of map.keys()) {
      if (map.size <= keep) break
      map.delete(k)
    }
  }
}
