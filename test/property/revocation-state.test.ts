/**
 * The revocation state depends only on the revocations and their log order,
 * never on how they were grouped: the log applies a batch at a time, the
 * auditor a bundle at a time, and a restarted process all at once.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RevocationState, type RevocationRecord } from '../../src/core/revocation-state.ts'

const subjects = ['spiffe://acme.example/agent/a', 'spiffe://acme.example/agent/b', 'spiffe://acme.example/agent/']
const keys = ['11', '22', '33'].map((b) => b.repeat(32))

const records: fc.Arbitrary<RevocationRecord[]> = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 5 }),
      subject: fc.constantFrom(...subjects),
      key: fc.constantFrom(...keys),
      since: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      authority: fc.constantFrom('self' as const, 'namespace' as const, 'issuer' as const),
    }),
    { maxLength: 40 },
  )
  .map((xs) => {
    let index = -1
    return xs.map((x) => {
      index += x.gap
      const r: RevocationRecord = { index, subject: x.subject, key: x.key, time: 100, reason: 'r', authority: x.authority, revoker: keys[0]! }
      if (x.since !== undefined) r.since = x.since
      return r
    })
  })

function answers(s: RevocationState): unknown {
  const out: unknown[] = [s.toJSON()]
  for (const subject of subjects) {
    for (const key of keys) {
      const chain = [{ issuer: 'i', subject, subjectKey: Uint8Array.from(key.match(/../g)!.map((h) => parseInt(h, 16))), notBefore: 0, notAfter: 1, signature: new Uint8Array(64) }]
      for (const at of [0, 10, 50, 200]) out.push(s.revokedAt(chain, at)?.index, s.suspectFor(chain, 50, at).map((r) => r.index))
    }
  }
  return out
}

describe('revocation state', () => {
  it('is the same applied one by one or in batches of any size', () => {
    fc.assert(
      fc.property(records, fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }), (recs, sizes) => {
        const one = new RevocationState()
        for (const r of recs) one.add(r)
        const batched = new RevocationState()
        let i = 0
        for (let k = 0; i < recs.length; k++) {
          const n = sizes[k % sizes.length]!
          batched.addAll(recs.slice(i, i + n))
          i += n
        }
        const restored = RevocationState.fromJSON(JSON.parse(JSON.stringify(one.toJSON())))
        expect(answers(batched)).toEqual(answers(one))
        expect(answers(restored)).toEqual(answers(one))
      }),
      { numRuns: 500 },
    )
  })
})
