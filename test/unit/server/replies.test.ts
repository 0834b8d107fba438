import { describe, expect, it } from 'vitest'
import { encodeTlogProof, encodeTlogProofHead, toHex } from '../../../src/core/index.ts'
import { addedJsonBytes } from '../../../src/server/replies.ts'

const decoder = new TextDecoder()

function bytesOf(seed: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (seed * 131 + i * 29) & 0xff)
}

// Checkpoints with every kind of character JSON escapes or passes through:
// quotes, backslashes, control characters, the em dash of signature lines,
// characters outside the BMP.
const CHECKPOINTS = [
  'log.example/a\n7\nq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n\n— log.example/a AAAAAQ==\n',
  'log "quoted" \\ back\\slash\n1\nAAAA\n\n— w AAAA\n',
  'ctl\t\r\b\f\u0001\u001f\u007f end\n2\nAAAA\n\n— 🛰 witness ☃ AAAA\n',
  '',
]

describe('addedJsonBytes', () => {
  it('writes the bytes of JSON.stringify of the reply, for any checkpoint text and proof shape', () => {
    let n = 0
    for (const checkpoint of CHECKPOINTS) {
      for (const index of [0, 1, 255, 256, 1_000_000, Number.MAX_SAFE_INTEGER]) {
        for (const hashes of [0, 1, 20, 63]) {
          for (const extra of [undefined, new Uint8Array(0), bytesOf(index, 655)]) {
            const proof = Array.from({ length: hashes }, (_, i) => bytesOf(i + index, 32))
            const leafHash = bytesOf(index + 7, 32)
            const head = encodeTlogProofHead({ index, proof, extra })
            const want = JSON.stringify({ index, leafHash: toHex(leafHash), checkpoint, proof: encodeTlogProof({ index, proof, extra, checkpoint }) })
            const got = addedJsonBytes(index, leafHash, checkpoint, head)
            expect(decoder.decode(got)).toBe(want)
            expect(got).toEqual(new TextEncoder().encode(want))
            n++
          }
        }
      }
    }
    expect(n).toBe(CHECKPOINTS.length * 6 * 4 * 3)
  })

  it('writes the proof head as the content of its JSON string (moved from core, which no longer escapes JSON)', () => {
    for (const p of [{ extra: new Uint8Array([1, 2, 3]), index: 73894, proof: [bytesOf(1, 32), bytesOf(2, 32)] }, { index: 0, proof: [] }, { extra: new Uint8Array(0), index: 5, proof: [bytesOf(3, 32)] }]) {
      const head = encodeTlogProofHead(p)
      const json = decoder.decode(addedJsonBytes(p.index, bytesOf(4, 32), CHECKPOINTS[0]!, head))
      expect(json).toContain(`"proof":"${JSON.stringify(decoder.decode(head)).slice(1, -1)}`)
    }
  })

  it('does not answer with an earlier checkpoint when they alternate', () => {
    const head = encodeTlogProofHead({ index: 3, proof: [bytesOf(1, 32)] })
    for (const checkpoint of [...CHECKPOINTS, ...CHECKPOINTS.slice().reverse(), CHECKPOINTS[0]!, CHECKPOINTS[0]!]) {
      const parsed = JSON.parse(decoder.decode(addedJsonBytes(3, bytesOf(2, 32), checkpoint, head))) as { checkpoint: string; proof: string }
      expect(parsed.checkpoint).toBe(checkpoint)
      expect(parsed.proof.endsWith(`\n\n${checkpoint}`)).toBe(true)
    }
  })
})
