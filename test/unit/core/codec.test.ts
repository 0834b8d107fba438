import { describe, expect, it } from 'vitest'
import { fromHex, toHex, utf8, utf8Within } from '../../../src/core/bytes.ts'
import { decodeCbor, encodeCbor, encodeTagged, reencodeEquals, type CborValue } from '../../../src/core/codec.ts'
import { isTlogError } from '../../../src/core/errors.ts'

const enc = (v: CborValue): string => toHex(encodeCbor(v))

function refuses(hex: string, opts?: { tag?: number; maxDepth?: number }): string {
  try {
    decodeCbor(fromHex(hex), opts)
  } catch (e) {
    expect(isTlogError(e, 'MALFORMED'), String(e)).toBe(true)
    return (e as Error).message
  }
  return expect.fail(`accepted ${hex}`)
}

describe('deterministic encoding (RFC 8949 §4.2.1; examples from RFC 8949 Appendix A)', () => {
  it('writes integers in the shortest form, never as floats', () => {
    expect(enc(0)).toBe('00')
    expect(enc(23)).toBe('17')
    expect(enc(24)).toBe('1818')
    expect(enc(100)).toBe('1864')
    expect(enc(1000)).toBe('1903e8')
    expect(enc(1000000)).toBe('1a000f4240')
    expect(enc(2 ** 32 - 1)).toBe('1affffffff')
    expect(enc(2 ** 32)).toBe('1b0000000100000000')
    expect(enc(1000000000000)).toBe('1b000000e8d4a51000')
    expect(enc(Number.MAX_SAFE_INTEGER)).toBe('1b001fffffffffffff')
    expect(enc(-1)).toBe('20')
    expect(enc(-10)).toBe('29')
    expect(enc(-100)).toBe('3863')
    expect(enc(-1000)).toBe('3903e7')
    expect(enc(-19)).toBe('32')
    expect(enc(-70001)).toBe('3a00011170')
    expect(enc(-(2 ** 32) - 1)).toBe('3b0000000100000000')
  })

  it('writes strings, byte strings and arrays with shortest lengths', () => {
    expect(enc('')).toBe('60')
    expect(enc('a')).toBe('6161')
    expect(enc('IETF')).toBe('6449455446')
    expect(enc('\u00fc')).toBe('62c3bc')
    expect(enc('\u6c34')).toBe('63e6b0b4')
    expect(enc('\ud800\udd51')).toBe('64f0908591')
    expect(enc(new Uint8Array([1, 2, 3, 4]))).toBe('4401020304')
    expect(enc([])).toBe('80')
    expect(enc([1, [2, 3], [4, 5]])).toBe('8301820203820405')
    expect(enc(Array.from({ length: 25 }, (_, i) => i + 1))).toBe('98190102030405060708090a0b0c0d0e0f101112131415161718181819')
    expect(enc('x'.repeat(24)).slice(0, 4)).toBe('7818')
    expect(enc('x'.repeat(256)).slice(0, 6)).toBe('790100')
  })

  it('sorts map keys by their encoded bytes, whatever the insertion order', () => {
    expect(enc(new Map<string | number, CborValue>([['b', 2], ['a', 1]]))).toBe('a2616101616202')
    // Integers sort before text (major type 0 < 1 < 3); shorter text first.
    expect(enc(new Map<string | number, CborValue>([['aa', 0], [-1, 0], ['b', 0], [10, 0], [100, 0]]))).toBe('a50a001864002000616200626161' + '00')
    expect(enc(new Map<number, CborValue>([[-70001, 0], [4, 0], [1, 0]]))).toBe('a30100040' + '03a0001117000')
  })

  it('wraps a value in a tag', () => {
    expect(toHex(encodeTagged(18, [new Uint8Array(0)]))).toBe('d28140')
  })

  it('refuses values outside the data model', () => {
    expect(() => encodeCbor(1.5 as unknown as CborValue)).toThrow(TypeError)
    expect(() => encodeCbor(2 ** 53 as unknown as CborValue)).toThrow(TypeError)
    expect(() => encodeCbor(true as unknown as CborValue)).toThrow(TypeError)
    expect(() => encodeCbor(null as unknown as CborValue)).toThrow(TypeError)
    expect(() => encodeCbor({} as unknown as CborValue)).toThrow(TypeError)
  })
})

describe('strict decoding', () => {
  it('returns fresh plain Uint8Arrays and safe integers', () => {
    const v = decodeCbor(fromHex('82441122334400')) as CborValue[]
    expect(Object.getPrototypeOf(v[0])).toBe(Uint8Array.prototype)
    expect(v[1]).toBe(0)
    expect(decodeCbor(fromHex('1b001fffffffffffff'))).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('refuses every deviation from deterministic encoding', () => {
    expect(refuses('1817')).toMatch(/shortest/)
    expect(refuses('190017')).toMatch(/shortest/)
    expect(refuses('1a0000ffff')).toMatch(/shortest/)
    expect(refuses('1b00000000ffffffff')).toMatch(/shortest/)
    expect(refuses('5801ff')).toMatch(/shortest/)
    expect(refuses('9f01ff')).toMatch(/indefinite/)
    expect(refuses('5f4101ff')).toMatch(/indefinite/)
    expect(refuses('f93c00')).toMatch(/float/)
    expect(refuses('fb3ff0000000000000')).toMatch(/float/)
    expect(refuses('f5')).toMatch(/simple/)
    expect(refuses('f6')).toMatch(/simple/)
    expect(refuses('a2616201616102')).toMatch(/sorted/)
    expect(refuses('a2616101616102')).toMatch(/duplicate/)
    expect(refuses('a1f401')).toMatch(/float|simple/)
    expect(refuses('a14101')).toMatch(/keys/)
    expect(refuses('62c328')).toMatch(/UTF-8/)
    expect(refuses('0000')).toMatch(/trailing/)
    expect(refuses('82')).toMatch(/truncated/)
    expect(refuses('5a00010000')).toMatch(/truncated/)
    expect(refuses('9bffffffffffffffff')).toMatch(/range/)
    expect(refuses('1b0020000000000000')).toMatch(/range/)
    expect(refuses('c102')).toMatch(/tag/)
    expect(refuses('1c')).toMatch(/reserved/)
    expect(refuses('d28140', { tag: 17 })).toMatch(/tag 17/)
    expect(refuses('8140', { tag: 18 })).toMatch(/tag/)
    expect(refuses('d2d28140', { tag: 18 })).toMatch(/tag/)
  })

  it('decodes text of every length around the short-ASCII path, non-ASCII and invalid UTF-8 included', () => {
    const texts: string[] = []
    for (const n of [0, 1, 2, 31, 63, 64, 65, 100]) {
      texts.push('a'.repeat(n), 'b'.repeat(n), 'ab~'.repeat(n).slice(0, n))
      if (n > 0) texts.push(`é${'x'.repeat(Math.max(0, n - 2))}`, `${'y'.repeat(Math.max(0, n - 2))}é`, `${'z'.repeat(Math.max(0, n - 4))}😀`)
    }
    // One array: consecutive texts of one length must not show each other's characters.
    expect(decodeCbor(encodeCbor(texts))).toEqual(texts)
    for (const t of texts) expect(decodeCbor(encodeCbor(t))).toBe(t)
    // Invalid UTF-8 after an ASCII run, short and long: refused, not read as Latin-1.
    expect(refuses(toHex(encodeCbor('abc')).replace(/^63/, '64') + 'ff')).toMatch(/UTF-8/)
    expect(refuses('7841' + '61'.repeat(64) + 'c0')).toMatch(/UTF-8/)
    expect(refuses('78' + (64).toString(16) + '61'.repeat(63) + '80')).toMatch(/UTF-8/)
  })

  it('bounds nesting depth without recursion blowing the stack', () => {
    const deep = '81'.repeat(100_000) + '00'
    expect(refuses(deep)).toMatch(/deep/)
    expect(refuses('818100', { maxDepth: 1 })).toMatch(/deep/)
    expect(decodeCbor(fromHex('818100'), { maxDepth: 2 })).toEqual([[0]])
  })

  it('refuses counts the input cannot hold before allocating', () => {
    expect(refuses('9bffffffffffffff00')).toMatch(/range|truncated/)
    expect(refuses('9a7fffffff')).toMatch(/truncated/)
    expect(refuses('ba7fffffff')).toMatch(/truncated/)
  })
})

describe('byte strings as copies or views', () => {
  const long = new Uint8Array(100).fill(7)
  const short = new Uint8Array(10).fill(8)
  const bytes = encodeCbor([long, short])

  it('copies every byte string by default, so the input can be reused', () => {
    const [a, b] = decodeCbor(bytes) as Uint8Array[]
    expect(a!.buffer).not.toBe(bytes.buffer)
    expect(b!.buffer).not.toBe(bytes.buffer)
    bytes.fill(0, 0, bytes.length)
    expect(a).toEqual(long)
    expect(b).toEqual(short)
  })

  it('with views, returns long byte strings as views of the input and still copies short ones', () => {
    const input = encodeCbor([long, short])
    const [a, b] = decodeCbor(input, { views: true }) as Uint8Array[]
    expect(a).toEqual(long)
    expect(a!.buffer).toBe(input.buffer)
    expect(b!.buffer).not.toBe(input.buffer)
  })
})

describe('heads and the hand-framed Sig_structure', () => {
  it('encodeCborHead gives the shortest head of every size class', async () => {
    const { encodeCborHead } = await import('../../../src/core/codec.ts')
    for (const n of [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      for (const major of [0, 2, 3, 4, 5]) {
        const viaEncoder = major === 0 ? encodeCbor(n) : undefined
        const head = encodeCborHead(major, n)
        if (viaEncoder !== undefined) expect(toHex(head)).toBe(toHex(viaEncoder))
        expect(head[0]! >> 5).toBe(major)
      }
    }
    expect(toHex(encodeCborHead(2, 300))).toBe('59012c')
  })

  it('sigStructure frames exactly what the encoder encodes', async () => {
    const { sigStructure } = await import('../../../src/core/statement.ts')
    for (const [ph, payload] of [[new Uint8Array(0), new Uint8Array(0)], [new Uint8Array(23), new Uint8Array(24)], [new Uint8Array(300), new Uint8Array(70000)]] as const) {
      expect(toHex(sigStructure(ph, payload))).toBe(toHex(encodeCbor(['Signature1', ph, new Uint8Array(0), payload])))
    }
  })
})

describe('the re-encoding check decoding ends with', () => {
  // Values as the walker returns them: maps in the order of their encoded keys.
  const samples: CborValue[] = ([
    0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    Number.MAX_SAFE_INTEGER,
    -1,
    -25,
    -(2 ** 32) - 1,
    '',
    'é漢🙂',
    'x'.repeat(300),
    new Uint8Array(0),
    new Uint8Array(70).fill(7),
    [],
    [1, 'a', [new Uint8Array(3)]],
    new Map<number | string, CborValue>([
      [1, 'one'],
      ['a', 2],
      [-19, new Map([['b', [3]]])],
      ['aa', 4],
      [1000, 5],
    ]),
  ] as CborValue[]).map((v) => decodeCbor(encodeCbor(v)))

  it('accepts exactly the canonical bytes of each value, tagged or not', () => {
    for (const v of samples) {
      expect(reencodeEquals(v, undefined, encodeCbor(v)), enc(v)).toBe(true)
      expect(reencodeEquals(v, 18, encodeTagged(18, v))).toBe(true)
      expect(reencodeEquals(v, 19, encodeTagged(18, v))).toBe(false)
      expect(reencodeEquals(v, undefined, encodeTagged(18, v))).toBe(false)
    }
  })

  it('refuses every one-byte change, truncation and extension of those bytes', () => {
    for (const v of samples) {
      const good = encodeCbor(v)
      for (let i = 0; i < good.length; i++) {
        for (const delta of [1, 0x20, 0x80]) {
          const bad = good.slice()
          bad[i] = (bad[i]! + delta) & 0xff
          expect(reencodeEquals(v, undefined, bad), `${enc(v)} with byte ${i} changed`).toBe(false)
        }
      }
      expect(reencodeEquals(v, undefined, good.subarray(0, good.length - 1))).toBe(false)
      expect(reencodeEquals(v, undefined, Uint8Array.of(...good, 0))).toBe(false)
    }
  })

  it('refuses non-shortest heads and map keys out of order, which a faulty walker could let through', () => {
    expect(reencodeEquals(5, undefined, fromHex('1805'))).toBe(false)
    expect(reencodeEquals(5, undefined, fromHex('05'))).toBe(true)
    expect(reencodeEquals(256, undefined, fromHex('1a00000100'))).toBe(false)
    expect(reencodeEquals('a', undefined, fromHex('780161'))).toBe(false)
    const m = new Map<string, CborValue>([
      ['bb', 1],
      ['a', 2],
    ])
    // The encoding of the map in the order it was built: keys not sorted.
    expect(reencodeEquals(m, undefined, fromHex('a2626262016161' + '02'))).toBe(false)
    const dup = fromHex('a2616101616102')
    expect(reencodeEquals(new Map([['a', 2]]), undefined, dup)).toBe(false)
    expect(reencodeEquals(1.5 as unknown as CborValue, undefined, fromHex('f93e00'))).toBe(false)
  })
})

describe('text length limits in UTF-8 bytes', () => {
  it('counts multi-byte characters and surrogate pairs, at and beside the limit', () => {
    for (const [s, limit] of [
      ['a'.repeat(1024), 1024],
      ['é'.repeat(512), 1024],
      ['€'.repeat(341) + 'a', 1024],
      ['😀'.repeat(256), 1024],
      ['a'.repeat(300), 1024],
    ] as const) {
      const n = utf8(s).length
      expect(utf8Within(s, limit), `${n} bytes`).toBe(n <= limit)
      expect(utf8Within(s + 'x', n), `${n + 1} bytes`).toBe(false)
      expect(utf8Within(s, n)).toBe(true)
    }
  })
})
