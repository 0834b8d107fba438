/** Byte-level helpers of the Ed25519 rule, against a BigInt reference. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodingIsCanonical } from '../../../src/core/sig.ts'

const P = 2n ** 255n - 19n

/** The reference: y < p, and no sign bit when x = 0 (y = 1 or y = p - 1). */
function reference(enc: Uint8Array): boolean {
  let y = 0n
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? enc[i]! & 0x7f : enc[i]!)
  if (y >= P) return false
  return !((enc[31]! & 0x80) !== 0 && (y === 1n || y === P - 1n))
}

function le(n: bigint, sign: boolean): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn)
  if (sign) out[31]! |= 0x80
  return out
}

describe('encodingIsCanonical', () => {
  it('agrees with the reference on every y near the edges, with and without the sign bit', () => {
    const ys = [0n, 1n, 2n, 0xecn, 0xedn, P - 2n, P - 1n, P, P + 1n, 2n ** 255n - 1n, 2n ** 248n, 2n ** 255n - 256n, P - 256n]
    for (const y of ys) {
      for (const sign of [false, true]) {
        const enc = le(y, sign)
        expect(encodingIsCanonical(enc), `y=${y} sign=${sign}`).toBe(reference(enc))
      }
    }
    expect(encodingIsCanonical(le(P, false))).toBe(false)
    expect(encodingIsCanonical(le(P - 1n, true))).toBe(false)
    expect(encodingIsCanonical(le(P - 1n, false))).toBe(true)
    expect(encodingIsCanonical(le(1n, true))).toBe(false)
  })

  it('agrees with the reference on random encodings and on encodings with runs of 0xff', () => {
    const ffHeavy = fc.array(fc.constantFrom(0x00, 0x01, 0x7f, 0xec, 0xed, 0xee, 0xff, 0x80), { minLength: 32, maxLength: 32 }).map((a) => Uint8Array.from(a))
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), ffHeavy), (enc) => {
        expect(encodingIsCanonical(enc)).toBe(reference(enc))
      }),
      { numRuns: 20_000 },
    )
  })
})
