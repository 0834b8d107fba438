import { fromHex, toHex } from './bytes.ts'
import type { Credential } from './credential.ts'
import { TlogError } from './errors.ts'
import { pairKey, type RevocationAuthority, type SignedRevocation } from './revocation.ts'

/**
 * The revocations a log holds, in log order (DESIGN.md "Revocation
 * entries"): pure data, no I/O, no clock. The log, the auditor and the
 * verifier each keep one; the log and the auditor add every accepted
 * revocation as they reach it, so the state after index i answers for the
 * entries after i.
 */

/** One revocation that took effect, as the state keeps and prints it. */
export interface RevocationRecord {
  /** The revocation entry's index in the log. */
  index: number
  subject: string
  /** The revoked key, hex. */
  key: string
  /** The revoker's clock, ms. */
  time: number
  /** Earliest suspected compromise, ms; absent when none was given. */
  since?: number
  reason: string
  authority: RevocationAuthority
  /** The revoker's key (kid), hex. */
  revoker: string
}

/** Returns the record of a revocation checked at `index`. */
export function revocationRecord(index: number, r: SignedRevocation, authority: RevocationAuthority): RevocationRecord {
  const rec: RevocationRecord = {
    index,
    subject: r.revocation.subject,
    key: toHex(r.revocation.key),
    time: r.revocation.time,
    reason: r.revocation.reason,
    authority,
    revoker: toHex(r.kid),
  }
  if (r.revocation.since !== undefined) rec.since = r.revocation.since
  return rec
}

/** The revocations of one log, by (subject, key) pair and in log order. */
export class RevocationState {
  // The earliest revocation of each pair: a later one of the same pair
  // changes nothing about which entries it covers.
  readonly #first = new Map<string, RevocationRecord>()
  // Every revocation of a pair, for suspects (each may name its own since).
  readonly #all = new Map<string, RevocationRecord[]>()
  readonly #list: RevocationRecord[] = []

  /** Number of revocations held. */
  get size(): number {
    return this.#list.length
  }

  /** Index of the last revocation added, or -1. */
  get lastIndex(): number {
    return this.#list.length === 0 ? -1 : this.#list[this.#list.length - 1]!.index
  }

  /**
   * Adds a revocation that took effect at `rec.index`. Revocations MUST be
   * added in log order (a RangeError otherwise: the caller's bug), and only
   * revocations that were themselves accepted (checked and not REVOKED).
   */
  add(rec: RevocationRecord): void {
    if (!Number.isSafeInteger(rec.index) || rec.index <= this.lastIndex) {
      throw new RangeError(`revocations are added in log order: ${rec.index} after ${this.lastIndex}`)
    }
    const k = pairKey(rec.subject, rec.key)
    if (!this.#first.has(k)) this.#first.set(k, rec)
    const all = this.#all.get(k)
    if (all === undefined) this.#all.set(k, [rec])
    else all.push(rec)
    this.#list.push(rec)
  }

  /** Adds revocations in log order (as add, one after another). */
  addAll(recs: readonly RevocationRecord[]): void {
    for (const r of recs) this.add(r)
  }

  /**
   * Returns the earliest revocation, logged before `index`, of a (subject,
   * key) pair that a credential of `chain` binds, or undefined: an entry at
   * `index` with this chain is REVOKED when it returns one.
   */
  revokedAt(chain: readonly Credential[], index: number): RevocationRecord | undefined {
    if (this.#first.size === 0) return undefined
    let found: RevocationRecord | undefined
    for (const c of chain) {
      const r = this.#first.get(pairKey(c.subject, c.subjectKey))
      if (r !== undefined && r.index < index && (found === undefined || r.index < found.index)) found = r
    }
    return found
  }

  /**
   * Returns the revocations, logged after `index`, of a pair `chain` binds,
   * that name a `since` at or before `time`: an entry at `index` signed at
   * `time` stays valid (log order decides) but is suspect for each.
   */
  suspectFor(chain: readonly Credential[], time: number, index: number): RevocationRecord[] {
    if (this.#all.size === 0) return []
    const out: RevocationRecord[] = []
    for (const c of chain) {
      for (const r of this.#all.get(pairKey(c.subject, c.subjectKey)) ?? []) {
        if (r.index > index && r.since !== undefined && time >= r.since) out.push(r)
      }
    }
    return out.sort((a, b) => a.index - b.index)
  }

  /** Returns the revocations of `subject` (exactly that subject), in log order. */
  ofSubject(subject: string): RevocationRecord[] {
    return this.#list.filter((r) => r.subject === subject)
  }

  /** Returns every revocation, in log order (copies). */
  toJSON(): RevocationRecord[] {
    return this.#list.map((r) => ({ ...r }))
  }

  /** Returns the state holding `recs` (as toJSON wrote them). Throws CORRUPT when they are not. */
  static fromJSON(recs: unknown): RevocationState {
    if (!Array.isArray(recs)) throw new TlogError('CORRUPT', 'revocation state: not an array')
    const s = new RevocationState()
    for (const [i, v] of recs.entries()) {
      const r = v as Partial<RevocationRecord>
      const ok =
        typeof r === 'object' && r !== null &&
        Number.isSafeInteger(r.index) && r.index! >= 0 &&
        typeof r.subject === 'string' && typeof r.key === 'string' && /^[0-9a-f]{64}$/.test(r.key) &&
        Number.isSafeInteger(r.time) && (r.since === undefined || Number.isSafeInteger(r.since)) &&
        typeof r.reason === 'string' && (r.authority === 'self' || r.authority === 'namespace' || r.authority === 'issuer') &&
        typeof r.revoker === 'string' && /^[0-9a-f]{64}$/.test(r.revoker)
      if (!ok) throw new TlogError('CORRUPT', `revocation state: record ${i} is not a revocation record`)
      try {
        s.add({ ...(r as RevocationRecord), key: toHex(fromHex(r.key!)) })
      } catch (e) {
        throw new TlogError('CORRUPT', `revocation state: record ${i}: ${(e as Error).message}`)
      }
    }
    return s
  }
}
