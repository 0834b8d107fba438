import { parsePolicy, parseTrustedIssuers, toHex, type Policy, type TrustedIssuers } from '../core/index.ts'
import type { VerifyCacheState } from './cache.ts'

/**
 * The verifier's own configuration (policy, trusted issuers, clock). It is
 * not attacker-controlled, so misuse throws here, before any check runs:
 * TypeError for wrong types, and parsePolicy's or parseTrustedIssuers'
 * TlogError (MALFORMED, TOO_LARGE) for a malformed configuration text.
 */

function isMap(v: unknown): v is Map<unknown, unknown> {
  return v instanceof Map
}

/** Returns the policy `p` denotes, parsing text (memoised in the cache). Throws TypeError, or TlogError for a malformed text. */
export function resolvePolicy(p: unknown, state: VerifyCacheState | undefined): Policy {
  if (typeof p === 'string') {
    const known = state?.policies.get(p)
    if (known !== undefined) return known
    const parsed = parsePolicy(p)
    state?.policies.set(p, parsed)
    return parsed
  }
  const q = p as Partial<Policy> | null
  if (typeof q !== 'object' || q === null || !Array.isArray(q.logs) || !isMap(q.witnesses) || !isMap(q.groups) || typeof q.quorum !== 'string') {
    throw new TypeError('policy must be a tlog-policy text or a Policy from parsePolicy()')
  }
  return q as Policy
}

/** Returns the trusted issuers `t` denotes, parsing text (memoised in the cache). Throws TypeError, or TlogError for a malformed text. */
export function resolveIssuers(t: unknown, state: VerifyCacheState | undefined): TrustedIssuers {
  if (typeof t === 'string') {
    const known = state?.issuers.get(t)
    if (known !== undefined) return known
    const parsed = parseTrustedIssuers(t)
    state?.issuers.set(t, parsed)
    return parsed
  }
  const q = t as Partial<TrustedIssuers> | null
  if (typeof q !== 'object' || q === null || !Array.isArray(q.issuers)) {
    throw new TypeError('issuers must be a trusted-issuers text or a TrustedIssuers from parseTrustedIssuers()')
  }
  return q as TrustedIssuers
}

/** Returns `now` (ms since the Unix epoch), defaulting to the current time. Throws TypeError unless it is a finite number. */
export function resolveNow(now: unknown): number {
  if (now === undefined) return Date.now()
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError('now must be a finite number of milliseconds since the Unix epoch')
  return now
}

/**
 * Returns a string naming every key of `policy` that a checkpoint's
 * signature checks depend on: log keys and witness keys with the witness
 * names they map to. Two policies with the same string verify the same
 * signature lines the same way, so cache entries keyed by it never carry
 * over to a policy with other keys. Groups and quorum are left out on
 * purpose: they are evaluated on every use, never cached.
 */
export function policyKeysId(policy: Policy): string {
  const parts: string[] = []
  for (const l of policy.logs) parts.push(`log ${l.key.name} ${l.key.keyId} ${l.key.type} ${toHex(l.key.publicKey)}`)
  for (const [name, w] of policy.witnesses) parts.push(`witness ${name} ${w.key.name} ${w.key.keyId} ${w.key.type} ${toHex(w.key.publicKey)}`)
  return parts.join('\n')
}
