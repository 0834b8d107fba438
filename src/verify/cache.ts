import { createCredentialCache, type Checkpoint, type CredentialCache, type Policy, type TrustedIssuers } from '../core/index.ts'

/**
 * The verification cache: what a batch of proofs from one log shares, so that
 * each further proof costs about one Ed25519 verification (the statement's)
 * plus hashing.
 *
 * It remembers only facts that no configuration can change:
 * - a checkpoint note whose policy log signature and policy witness
 *   cosignatures all verified, keyed by the exact note text AND the keys of
 *   the policy it was checked against (a cache used with another policy
 *   misses instead of vouching for it). Time (FUTURE_COSIGNATURE) and the
 *   quorum are re-evaluated on every use, so a hit gives the verdict a miss
 *   would;
 * - credential signatures that verified, keyed by signer key, signature and
 *   signed bytes (core's CredentialCache): whether that signer is trusted is
 *   decided again on every use;
 * - parsed policy and issuers texts, keyed by their exact text.
 * Refusals are never cached. Every part is bounded and evicts the least
 * recently used entry. Concurrent checks of one checkpoint are made once
 * and shared.
 */

/** Sizes of a VerifyCache; each part holds at most this many entries. */
export interface VerifyCacheOptions {
  /** Verified checkpoint notes (default 256). */
  maxCheckpoints?: number
  /** Verified credential signatures (default 10,000). */
  maxCredentials?: number
}

/** Counters of a VerifyCache, for tests and benchmarks. */
export interface VerifyCacheStats {
  checkpointHits: number
  checkpointMisses: number
  credentialHits: number
  credentialMisses: number
  /** Entries held now. */
  checkpoints: number
}

/** A cache to pass to the verify functions; made by createVerifyCache. Opaque but for its counters. */
export interface VerifyCache {
  /** Returns a snapshot of the counters. */
  stats(): VerifyCacheStats
  /** Forgets everything and zeroes the counters. */
  clear(): void
}

/** A checkpoint whose log signature and policy witness cosignatures verified. */
export interface CachedCheckpoint {
  checkpoint: Checkpoint
  /** Key name of the policy log key that signed it. */
  log: string
  /** Every verified policy witness cosignature line: the policy witness name and its timestamp (seconds). */
  cosignatures: { witness: string; timestamp: number }[]
}

/** A bounded map that evicts its least recently used entry. */
export class BoundedLru<V> {
  readonly #max: number
  readonly #map = new Map<string, V>()
  /** Makes an empty map holding at most `max` entries. */
  constructor(max: number) {
    this.#max = max
  }
  /** Returns the value of `key`, marking it recently used, or undefined. */
  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v === undefined) return undefined
    this.#map.delete(key)
    this.#map.set(key, v)
    return v
  }
  /** Stores `value` under `key`, evicting the least recently used entry when full. */
  set(key: string, value: V): void {
    this.#map.delete(key)
    if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next().value
      if (oldest !== undefined) this.#map.delete(oldest)
    }
    this.#map.set(key, value)
  }
  /** The number of entries held. */
  get size(): number {
    return this.#map.size
  }
  /** Removes every entry. */
  clear(): void {
    this.#map.clear()
  }
}

/** The internal state behind a VerifyCache. */
export interface VerifyCacheState {
  checkpoints: BoundedLru<CachedCheckpoint>
  /**
   * Checkpoint checks under way, by the same key as `checkpoints`, so that
   * proofs verified concurrently against one new checkpoint share one check
   * instead of each making it. An entry lives only while its check runs.
   */
  pending: Map<string, Promise<unknown>>
  credentials: CredentialCache
  policies: BoundedLru<Policy>
  issuers: BoundedLru<TrustedIssuers>
  counters: Omit<VerifyCacheStats, 'checkpoints'>
}

// Parsed configuration texts: a verifier holds a handful, never thousands.
const MAX_CONFIGS = 8

const states = new WeakMap<VerifyCache, VerifyCacheState>()

function bound(n: number | undefined, dflt: number, what: string): number {
  if (n === undefined) return dflt
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer`)
  return n
}

/**
 * Returns a new, empty verification cache. Share one across a batch of
 * proofs (any policies: entries of one policy never answer for another).
 * Throws RangeError on sizes that are not positive integers.
 */
export function createVerifyCache(opts: VerifyCacheOptions = {}): VerifyCache {
  const maxCheckpoints = bound(opts.maxCheckpoints, 256, 'maxCheckpoints')
  const maxCredentials = bound(opts.maxCredentials, 10_000, 'maxCredentials')
  const counters = { checkpointHits: 0, checkpointMisses: 0, credentialHits: 0, credentialMisses: 0 }
  let inner = createCredentialCache(maxCredentials)
  // Count through a wrapper so benchmarks can see the cache work; core's
  // cache itself is the one the log server uses.
  const credentials: CredentialCache = {
    has(k) {
      const hit = inner.has(k)
      if (hit) counters.credentialHits++
      else counters.credentialMisses++
      return hit
    },
    add: (k) => inner.add(k),
  }
  const state: VerifyCacheState = {
    checkpoints: new BoundedLru(maxCheckpoints),
    pending: new Map(),
    credentials,
    policies: new BoundedLru(MAX_CONFIGS),
    issuers: new BoundedLru(MAX_CONFIGS),
    counters,
  }
  const cache: VerifyCache = {
    stats: () => ({ ...counters, checkpoints: state.checkpoints.size }),
    clear() {
      state.checkpoints.clear()
      state.policies.clear()
      state.issuers.clear()
      inner = createCredentialCache(maxCredentials)
      counters.checkpointHits = counters.checkpointMisses = counters.credentialHits = counters.credentialMisses = 0
    },
  }
  states.set(cache, state)
  return cache
}

/** Returns the state of a cache made by createVerifyCache, or undefined for none. Throws TypeError for anything else. */
export function cacheState(cache: VerifyCache | undefined): VerifyCacheState | undefined {
  if (cache === undefined) return undefined
  const s = typeof cache === 'object' && cache !== null ? states.get(cache) : undefined
  if (s === undefined) throw new TypeError('cache must come from createVerifyCache()')
  return s
}
