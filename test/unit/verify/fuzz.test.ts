/**
 * verifyActionProof never throws on attacker-controlled input: random bytes,
 * random text after a valid header, and valid proofs mutated at the byte and
 * line level all come back as verdicts with a known reason. And a mutation
 * can never make the proof vouch for anything else: if a mutated proof still
 * verifies, it proves the same entry at the same index under the same root.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { utf8 } from '../../../src/core/index.ts'
import { REASON_CODES, createVerifyCache, parsePolicy, parseTrustedIssuers, verifyActionProof, type ActionVerdict } from '../../../src/verify/index.ts'
import { ISSUERS_TEXT, NOW, buildLog, policyText, sampleEntries } from './fixture.ts'

const opts = { policy: parsePolicy(policyText()), issuers: parseTrustedIssuers(ISSUERS_TEXT), now: NOW }

async function verdict(input: string | Uint8Array, cached = false): Promise<ActionVerdict> {
  let v: ActionVerdict
  try {
    v = await verifyActionProof(input, cached ? { ...opts, cache } : opts)
  } catch (e) {
    throw new Error(`verifyActionProof threw ${String(e)}`)
  }
  if (!v.ok) {
    expect(REASON_CODES).toContain(v.reason)
    expect(v.message).not.toMatch(/internal error/)
  }
  return v
}

const cache = createVerifyCache()
let proofs: string[]
let reference: ActionVerdict[]

beforeAll(async () => {
  const entries = await sampleEntries(5)
  const log = await buildLog(entries)
  proofs = await Promise.all(entries.map((_, i) => log.proof(i)))
  reference = await Promise.all(proofs.map((p) => verdict(p)))
  for (const r of reference) expect(r.ok).toBe(true)
})

/** A mutated proof may verify only as the very proof it came from. */
function sameAsReference(v: ActionVerdict, i: number): void {
  if (!v.ok) return
  const r = reference[i] as ActionVerdict & { ok: true }
  expect(v.leafHash).toBe(r.leafHash)
  expect(v.index).toBe(r.index)
  expect(v.checkpoint).toEqual(r.checkpoint)
  expect(v.statement).toEqual(r.statement)
}

describe('verifyActionProof on hostile input', () => {
  it('returns a verdict for random bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (b) => {
        expect((await verdict(b)).ok).toBe(false)
      }),
      { numRuns: 1500 },
    )
  })

  it('returns a verdict for random text after a valid header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 2000, unit: 'binary' }), async (s) => {
        expect((await verdict(`c2sp.org/tlog-proof@v1\n${s}`)).ok).toBe(false)
      }),
      { numRuns: 1000 },
    )
  })

  it('byte-level mutations of a valid proof: never a throw, never another entry', async () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    )
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 4 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), async (i, ms, cached) => {
        let b = utf8(proofs[i]!)
        for (const m of ms) {
          const at = m.at % (b.length + 1)
          if (m.kind === 'flip' && at < b.length) {
            b = b.slice()
            b[at]! ^= m.mask
          } else if (m.kind === 'insert') b = new Uint8Array([...b.subarray(0, at), m.byte, ...b.subarray(at)])
          else if (m.kind === 'delete') b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + m.len)])
          else if (m.kind === 'truncate') b = b.slice(0, at)
        }
        sameAsReference(await verdict(b, cached), i)
      }),
      { numRuns: 2500 },
    )
  })

  it('line-level mutations of a valid proof: never a throw, never another entry', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 4 }),
        fc.array(fc.record({ op: fc.constantFrom('drop', 'dup', 'swap', 'blank'), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 3 }),
        async (i, ops) => {
          const lines = proofs[i]!.split('\n')
          for (const { op, a, b } of ops) {
            const x = a % lines.length
            const y = b % lines.length
            if (op === 'drop') lines.splice(x, 1)
            else if (op === 'dup') lines.splice(x, 0, lines[y]!)
            else if (op === 'swap') [lines[x], lines[y]] = [lines[y]!, lines[x]!]
            else lines.splice(x, 0, '')
            if (lines.length === 0) lines.push('')
          }
          sameAsReference(await verdict(lines.join('\n'), true), i)
        },
      ),
      { numRuns: 1500 },
    )
  })
})
