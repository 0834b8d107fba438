import { describe, expect, it } from 'vitest'
import { toBase64 } from '../../../src/core/bytes.ts'
import { isTlogError } from '../../../src/core/errors.ts'
import { EMPTY_ROOT } from '../../../src/core/hash.ts'
import { encodeTlogProof, encodeTlogProofHead, parseTlogProof } from '../../../src/core/proof.ts'
import {
  encodeAddCheckpointRequest,
  encodeCosignatureResponse,
  encodeSizeBody,
  parseAddCheckpointRequest,
  parseCosignatureResponse,
  parseSizeBody,
} from '../../../src/core/witness-protocol.ts'

const h = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const checkpoint = `example.com/log\n5\n${toBase64(EMPTY_ROOT)}\n\n\u2014 example.com/log AAAAAAA=\n`

function code(f: () => unknown): string | undefined {
  try {
    f()
  } catch (e) {
    expect(isTlogError(e), String(e)).toBe(true)
    return (e as { code: string }).code
  }
  return undefined
}

describe('tlog-proof', () => {
  it('encodes the layout of c2sp.org/tlog-proof and parses it back', () => {
    const p = { extra: new Uint8Array([1, 2, 3]), index: 73894, proof: [h(1), h(2)], checkpoint }
    const text = encodeTlogProof(p)
    expect(text).toBe(`c2sp.org/tlog-proof@v1\nextra AQID\nindex 73894\n${toBase64(h(1))}\n${toBase64(h(2))}\n\n${checkpoint}`)
    expect(parseTlogProof(text)).toEqual(p)
    const noExtra = { index: 0, proof: [], checkpoint }
    expect(encodeTlogProof(noExtra)).toBe(`c2sp.org/tlog-proof@v1\nindex 0\n\n${checkpoint}`)
    expect(parseTlogProof(encodeTlogProof(noExtra))).toEqual(noExtra)
  })

  it('writes the head before the checkpoint as ASCII bytes', () => {
    const decode = (b: Uint8Array): string => new TextDecoder().decode(b)
    for (const p of [{ extra: new Uint8Array([1, 2, 3]), index: 73894, proof: [h(1), h(2)] }, { index: 0, proof: [] }, { extra: new Uint8Array(0), index: 5, proof: [h(3)] }]) {
      const text = encodeTlogProof({ ...p, checkpoint })
      const head = text.slice(0, text.length - checkpoint.length)
      expect(decode(encodeTlogProofHead(p))).toBe(head)
    }
    expect(() => encodeTlogProofHead({ index: -1, proof: [] })).toThrow(RangeError)
  })

  it('refuses deviations', () => {
    const good = encodeTlogProof({ extra: new Uint8Array([1]), index: 7, proof: [h(1)], checkpoint })
    for (const b of [
      good.replace('@v1', '@v2'),
      good.replace('index 7', 'index 07'),
      good.replace('index 7', 'index -7'),
      good.replace('index 7', 'Index 7'),
      good.replace('extra AQ==', 'extra '),
      good.replace('extra AQ==', 'extra AQ'),
      good.replace(toBase64(h(1)), toBase64(h(1)).slice(4)),
      good.replace('\n\nexample', '\nexample'),
      `c2sp.org/tlog-proof@v1\nindex 7\n${`${toBase64(h(1))}\n`.repeat(64)}\n${checkpoint}`,
      `c2sp.org/tlog-proof@v1\nindex 7\n\n`,
      `c2sp.org/tlog-proof@v1\nindex 7`,
      `c2sp.org/tlog-proof@v1\nextra AQ==\nextra AQ==\nindex 7\n\n${checkpoint}`,
    ]) {
      expect(code(() => parseTlogProof(b)), JSON.stringify(b.slice(0, 120))).toBe('MALFORMED')
    }
    expect(code(() => parseTlogProof('x'.repeat(500_000)))).toBe('TOO_LARGE')
  })
})

describe('tlog-witness add-checkpoint bodies', () => {
  it('encodes and parses requests like the spec example', () => {
    const req = { oldSize: 20852014, proof: [h(1), h(2), h(3), h(4)], checkpoint }
    const body = encodeAddCheckpointRequest(req)
    expect(body.startsWith('old 20852014\n')).toBe(true)
    expect(body).toContain(`${toBase64(h(4))}\n\nexample.com/log\n`)
    expect(parseAddCheckpointRequest(body)).toEqual(req)
    expect(parseAddCheckpointRequest(new TextEncoder().encode(`old 0\n\n${checkpoint}`))).toEqual({ oldSize: 0, proof: [], checkpoint })
  })

  it('refuses malformed requests', () => {
    for (const b of [
      `old 01\n\n${checkpoint}`,
      `old -1\n\n${checkpoint}`,
      `old\n\n${checkpoint}`,
      `new 1\n\n${checkpoint}`,
      `old 1\n${toBase64(h(1)).slice(4)}\n\n${checkpoint}`,
      `old 1\nnot base64\n\n${checkpoint}`,
      `old 1\n${`${toBase64(h(1))}\n`.repeat(64)}\n${checkpoint}`,
      `old 1\n`,
      `old 1\n\n`,
      `old 1`,
    ]) {
      expect(code(() => parseAddCheckpointRequest(b)), JSON.stringify(b.slice(0, 80))).toBe('MALFORMED')
    }
    expect(code(() => parseAddCheckpointRequest('old 1\n\n' + 'x'.repeat(300_000)))).toBe('TOO_LARGE')
  })

  it('encodes and parses responses and size bodies', () => {
    const sigs = [
      { name: 'witness.example/w1', keyId: 0x01020304, signature: new Uint8Array(72).fill(1) },
      { name: 'witness.example/w2', keyId: 7, signature: new Uint8Array(72).fill(2) },
    ]
    const body = encodeCosignatureResponse(sigs)
    expect(body.split('\n')).toHaveLength(3)
    expect(parseCosignatureResponse(body)).toEqual(sigs)
    expect(code(() => parseCosignatureResponse(body.slice(0, -1)))).toBe('MALFORMED')
    expect(code(() => parseCosignatureResponse(''))).toBe('MALFORMED')
    expect(code(() => parseCosignatureResponse('\n'))).toBe('MALFORMED')
    expect(encodeSizeBody(42)).toBe('42\n')
    expect(parseSizeBody('42\n')).toBe(42)
    for (const b of ['42', '042\n', '\n', '4 2\n', '42\n\n']) expect(code(() => parseSizeBody(b)), b).toBe('MALFORMED')
  })
})
