import { Encoder, Tag } from 'cbor-x'
import { compareBytes, bytesEqual, copyBytes, fromUtf8 } from './bytes.ts'
import { TlogError } from './errors.ts'

/**
 * Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for
 * actlog's data model: unsigned and negative integers, byte strings, text
 * strings, arrays, maps with integer or text keys, and one tag where a caller
 * asks for it. No floats, no simple values, no indefinite lengths.
 *
 * Encoding goes through cbor-x with pinned options, after two fixes cbor-x
 * does not make by itself: integers of 2^32 and above are passed as BigInt
 * (cbor-x writes large JS numbers as float64), and map entries are put in the
 * order of their encoded keys (cbor-x keeps insertion order). Every output is
 * then checked by the strict decoder below, so a change in cbor-x's behaviour
 * fails loudly instead of producing non-canonical bytes.
 *
 * Decoding is a strict, bounded walk written here: it checks shortest-form
 * heads, definite lengths, key order and uniqueness, UTF-8, depth and ranges
 * before building any value, then re-encodes the value and compares bytes.
 */

/** A value of actlog's CBOR data model. Integers are safe JS integers. */
export type CborValue = number | string | Uint8Array | CborValue[] | CborMap
/** A CBOR map; keys are integers or text. */
export type CborMap = Map<number | string, CborValue>

/** Deepest nesting the decoder accepts; actlog's formats need 6. */
export const MAX_CBOR_DEPTH = 16

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  useTag259ForMaps: false,
  largeBigIntToFloat: false,
} as ConstructorParameters<typeof Encoder>[0])

const TWO_32 = 2 ** 32

// cbor-x's RESET_BUFFER_MODE (encode.js; not re-exported by the package):
// the next encode reuses the buffer instead of allocating 8 KiB every few
// calls. The output is then valid only until the next encode, which is why
// every caller below copies or compares it at once.
const RESET_BUFFER_MODE = 1024
const encodeRaw = encoder.encode.bind(encoder) as (value: unknown, mode: number) => Uint8Array

/** Returns the deterministic CBOR encoding of `value`. Throws TypeError on values outside the data model. */
export function encodeCbor(value: CborValue): Uint8Array {
  return finish(encodeRaw(prepare(value, 0), RESET_BUFFER_MODE))
}

/**
 * Re-encodes what the strict decoder returned and compares it with the
 * input, byte by byte, without building the encoding: each head is written
 * in shortest form from the value, each string encoded afresh, and map keys
 * must come in the order of their encoded bytes. It shares no code with the
 * walker, so a walker bug that accepted a non-canonical item still fails here.
 */
export function reencodeEquals(value: CborValue, tag: number | undefined, bytes: Uint8Array): boolean {
  const m = new Matcher(bytes)
  if (tag !== undefined && !m.head(6, tag)) return false
  return m.value(value) && m.pos === bytes.length
}

// Strings are encoded into this buffer to be compared; it grows as needed.
let scratch = new Uint8Array(1024)

class Matcher {
  pos = 0
  constructor(readonly b: Uint8Array) {}

  head(major: number, n: number): boolean {
    const b = this.b
    const m = major << 5
    let p = this.pos
    if (n < 24) {
      if (b[p++] !== (m | n)) return false
    } else if (n < 0x100) {
      if (b[p++] !== (m | 24) || b[p++] !== n) return false
    } else if (n < 0x10000) {
      if (b[p++] !== (m | 25) || b[p++] !== n >>> 8 || b[p++] !== (n & 0xff)) return false
    } else if (n < TWO_32) {
      if (b[p++] !== (m | 26)) return false
      for (let shift = 24; shift >= 0; shift -= 8) if (b[p++] !== ((n >>> shift) & 0xff)) return false
    } else {
      if (b[p++] !== (m | 27)) return false
      const hi = Math.floor(n / TWO_32)
      const lo = n >>> 0
      for (let shift = 24; shift >= 0; shift -= 8) if (b[p++] !== ((hi >>> shift) & 0xff)) return false
      for (let shift = 24; shift >= 0; shift -= 8) if (b[p++] !== ((lo >>> shift) & 0xff)) return false
    }
    this.pos = p
    return true
  }

  /** Matches text whose UTF-8 is its code units (all ASCII). */
  asciiText(s: string): boolean {
    if (!this.head(3, s.length) || this.pos + s.length > this.b.length) return false
    for (let i = 0; i < s.length; i++) if (this.b[this.pos + i] !== s.charCodeAt(i)) return false
    this.pos += s.length
    return true
  }

  raw(bytes: Uint8Array, length: number): boolean {
    if (this.pos + length > this.b.length) return false
    for (let i = 0; i < length; i++) if (this.b[this.pos + i] !== bytes[i]) return false
    this.pos += length
    return true
  }

  value(v: CborValue): boolean {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) return false
      return v >= 0 ? this.head(0, v) : this.head(1, -1 - v)
    }
    if (typeof v === 'string') {
      if (isAscii(v)) return this.asciiText(v)
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      if (scratch.length < v.length * 3) scratch = new Uint8Array(v.length * 3)
      const { written } = utf8Into.encodeInto(v, scratch)
      return this.head(3, written) && this.raw(scratch, written)
    }
    if (v instanceof Uint8Array) return this.head(2, v.length) && this.raw(v, v.length)
    if (Array.isArray(v)) {
      if (!this.head(4, v.length)) return false
      for (const x of v) if (!this.value(x)) return false
      return true
    }
    if (v instanceof Map) {
      if (!this.head(5, v.size)) return false
      let prevStart = -1
      let prevEnd = -1
      for (const [k, x] of v) {
        const start = this.pos
        if (!this.value(k)) return false
        if (prevStart >= 0 && compareRanges(this.b, prevStart, prevEnd, start, this.pos) >= 0) return false
        prevStart = start
        prevEnd = this.pos
        if (!this.value(x)) return false
      }
      return true
    }
    return false
  }
}

const utf8Into = new TextEncoder()

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Compares b[s1, e1) with b[s2, e2) as byte strings (shorter prefix first). */
function compareRanges(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): number {
  const n = Math.min(e1 - s1, e2 - s2)
  for (let i = 0; i < n; i++) {
    const d = b[s1 + i]! - b[s2 + i]!
    if (d !== 0) return d
  }
  return e1 - s1 - (e2 - s2)
}

/** Returns the deterministic CBOR encoding of `value` wrapped in tag `tag`. */
export function encodeTagged(tag: number, value: CborValue): Uint8Array {
  if (!Number.isSafeInteger(tag) || tag < 0) throw new TypeError('a CBOR tag is a non-negative integer')
  return finish(encodeRaw(new Tag(prepare(value, 0), tag), RESET_BUFFER_MODE), tag)
}

function finish(out: Uint8Array, tag?: number): Uint8Array {
  const bytes = copyBytes(out)
  // The encoder's output must itself pass the strict decoder; if it does not,
  // cbor-x changed behaviour and we must not emit the bytes.
  try {
    walk(bytes, tag === undefined ? {} : { tag })
  } catch (cause) {
    throw new Error('cbor-x produced non-deterministic CBOR', { cause })
  }
  return bytes
}

function prepare(v: CborValue, depth: number): unknown {
  if (depth > MAX_CBOR_DEPTH) throw new TypeError('CBOR value nests too deeply')
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError('CBOR numbers must be safe integers')
    return v >= TWO_32 || v < -TWO_32 ? BigInt(v) : v
  }
  if (typeof v === 'string') return v
  if (v instanceof Uint8Array) return copyBytes(v)
  if (Array.isArray(v)) return v.map((x) => prepare(x, depth + 1))
  if (v instanceof Map) {
    const entries: [Uint8Array, unknown, unknown][] = []
    for (const [k, x] of v) {
      if (typeof k !== 'number' && typeof k !== 'string') throw new TypeError('CBOR map keys are integers or text')
      entries.push([keyBytes(k), prepare(k, depth + 1), prepare(x, depth + 1)])
    }
    entries.sort((a, b) => compareBytes(a[0], b[0]))
    return new Map(entries.map(([, k, x]) => [k, x]))
  }
  throw new TypeError(`value of type ${typeof v} is outside the CBOR data model`)
}

// Map keys come from a small fixed vocabulary; their encodings are cached.
const keyCache = new Map<number | string, Uint8Array>()

function keyBytes(k: number | string): Uint8Array {
  let b = keyCache.get(k)
  if (b === undefined) {
    b = encodeCbor(k)
    if (keyCache.size < 4096) keyCache.set(k, b)
  }
  return b
}

/**
 * Returns the shortest-form head of a CBOR item: major type `major` (0..7)
 * with argument `n` (a length or an unsigned value). For callers that frame
 * byte strings around bytes they already hold, without copying them through
 * the encoder.
 */
export function encodeCborHead(major: number, n: number): Uint8Array {
  const out = new Uint8Array(cborHeadLength(n))
  writeCborHead(out, 0, major, n)
  return out
}

/** Length of the shortest head carrying argument `n`. */
export function cborHeadLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < TWO_32 ? 5 : 9
}

/** Writes the shortest head of major type `major` with argument `n` into `out` at `offset`; returns the offset after it. */
export function writeCborHead(out: Uint8Array, offset: number, major: number, n: number): number {
  if (!Number.isInteger(major) || major < 0 || major > 7) throw new RangeError('CBOR major type is 0..7')
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('CBOR argument must be a safe non-negative integer')
  const m = major << 5
  let o = offset
  if (n < 24) {
    out[o++] = m | n
  } else if (n < 0x100) {
    out[o++] = m | 24
    out[o++] = n
  } else if (n < 0x10000) {
    out[o++] = m | 25
    out[o++] = n >> 8
    out[o++] = n & 0xff
  } else if (n < TWO_32) {
    out[o++] = m | 26
    for (let shift = 24; shift >= 0; shift -= 8) out[o++] = (n >>> shift) & 0xff
  } else {
    out[o++] = m | 27
    const hi = Math.floor(n / TWO_32)
    const lo = n >>> 0
    for (let shift = 24; shift >= 0; shift -= 8) out[o++] = (hi >>> shift) & 0xff
    for (let shift = 24; shift >= 0; shift -= 8) out[o++] = (lo >>> shift) & 0xff
  }
  return o
}

/** Options of decodeCbor. */
export interface DecodeOptions {
  /** When set, the item MUST be this tag around the value, and no other tag may appear. */
  tag?: number
  /** Maximum nesting depth; defaults to MAX_CBOR_DEPTH. */
  maxDepth?: number
  /**
   * Byte strings longer than 64 bytes as views of `bytes` rather than
   * copies: for a caller that owns `bytes` and keeps it as long as them.
   */
  views?: boolean
}

// One reused array of char codes per length: short ASCII text is read into
// it and made a string without allocating anything else.
const asciiUnits: number[][] = Array.from({ length: 65 }, (_, n) => new Array<number>(n).fill(0))

/** Returns bytes [p, p + n) of `b` as text when all are ASCII (n ≤ 64), else undefined. */
function asciiAt(b: Uint8Array, p: number, n: number): string | undefined {
  const units = asciiUnits[n]!
  for (let i = 0; i < n; i++) {
    const c = b[p + i]!
    if (c > 0x7f) return undefined
    units[i] = c
  }
  return String.fromCharCode.apply(null, units)
}

/**
 * Returns the value of one deterministically encoded CBOR item that fills
 * `bytes` exactly. Throws MALFORMED on anything else: trailing bytes,
 * non-shortest heads, indefinite lengths, floats or simple values, unsorted or
 * duplicate map keys, invalid UTF-8, unexpected tags, integers beyond 2^53-1,
 * or nesting deeper than allowed.
 */
export function decodeCbor(bytes: Uint8Array, opts: DecodeOptions = {}): CborValue {
  const value = walk(bytes, opts)
  // Belt and braces for the rule "decoding re-encodes and compares bytes".
  if (!reencodeEquals(value, opts.tag, bytes)) throw new TlogError('MALFORMED', 'CBOR is not in deterministic encoding')
  return value
}

function walk(bytes: Uint8Array, opts: DecodeOptions): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeCbor takes a Uint8Array')
  const r = new Reader(bytes, opts.maxDepth ?? MAX_CBOR_DEPTH, opts.views === true)
  let value: CborValue
  if (opts.tag !== undefined) {
    r.head()
    if (r.hMajor !== 6) throw malformed('expected a CBOR tag')
    if (r.hValue !== opts.tag) throw malformed(`expected CBOR tag ${opts.tag}, found ${r.hValue}`)
    value = r.item(1)
  } else {
    value = r.item(0)
  }
  if (r.pos !== bytes.length) throw malformed('trailing bytes after the CBOR item')
  return value
}

function malformed(msg: string): TlogError {
  return new TlogError('MALFORMED', `CBOR: ${msg}`)
}

class Reader {
  pos = 0
  constructor(
    readonly b: Uint8Array,
    readonly maxDepth: number,
    readonly views: boolean,
  ) {}

  byte(): number {
    if (this.pos >= this.b.length) throw malformed('truncated')
    return this.b[this.pos++]!
  }

  // The last head read, in fields rather than an object per item: a
  // statement has dozens of items, and the objects were a third of the
  // decoder's garbage.
  hMajor = 0
  hValue = 0

  /** Reads a head into hMajor and hValue. */
  head(): void {
    const first = this.byte()
    const major = first >> 5
    const ai = first & 31
    if (major === 7) throw malformed('floats and simple values are not allowed')
    this.hMajor = major
    if (ai < 24) {
      this.hValue = ai
      return
    }
    if (ai === 31) throw malformed('indefinite lengths are not allowed')
    if (ai > 27) throw malformed('reserved additional information')
    const n = 1 << (ai - 24)
    if (this.pos + n > this.b.length) throw malformed('truncated')
    let v = 0
    let big = 0n
    if (n === 8) {
      for (let i = 0; i < 8; i++) big = (big << 8n) | BigInt(this.b[this.pos + i]!)
    } else {
      for (let i = 0; i < n; i++) v = v * 256 + this.b[this.pos + i]!
    }
    this.pos += n
    if (n === 8) {
      if (big < 2n ** 32n) throw malformed('integer or length not in shortest form')
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('integer out of range')
      this.hValue = Number(big)
      return
    }
    const min = n === 1 ? 24 : n === 2 ? 256 : 65536
    if (v < min) throw malformed('integer or length not in shortest form')
    this.hValue = v
  }

  take(n: number): Uint8Array {
    if (n > this.b.length - this.pos) throw malformed('truncated')
    // Small arrays made with new live in V8's heap (up to 64 bytes); slice
    // gives each its own off-heap buffer, which costs the collector far more.
    // Keys, signatures, digests and nonces are all that small.
    let out: Uint8Array
    if (n <= 64) {
      out = new Uint8Array(n)
      const b = this.b
      const p = this.pos
      for (let i = 0; i < n; i++) out[i] = b[p + i]!
    } else {
      out = this.views ? this.b.subarray(this.pos, this.pos + n) : this.b.slice(this.pos, this.pos + n)
    }
    this.pos += n
    return out
  }

  item(depth: number): CborValue {
    if (depth > this.maxDepth) throw malformed('nesting too deep')
    this.head()
    const value = this.hValue
    switch (this.hMajor) {
      case 0:
        return value
      case 1:
        if (value >= Number.MAX_SAFE_INTEGER) throw malformed('integer out of range')
        return -1 - value
      case 2:
        return this.take(value)
      case 3: {
        if (value > this.b.length - this.pos) throw malformed('truncated')
        // Decoding copies the text out; no need to copy the bytes first,
        // nor, for short ASCII (keys, names, versions), to make a view.
        const text = (value <= 64 ? asciiAt(this.b, this.pos, value) : undefined) ?? fromUtf8(this.b.subarray(this.pos, this.pos + value))
        this.pos += value
        return text
      }
      case 4: {
        // Each element takes at least one byte: refuse counts the input cannot hold.
        if (value > this.b.length - this.pos) throw malformed('truncated')
        const out: CborValue[] = []
        for (let i = 0; i < value; i++) out.push(this.item(depth + 1))
        return out
      }
      case 5: {
        if (value * 2 > this.b.length - this.pos) throw malformed('truncated')
        const out: CborMap = new Map()
        // The previous key's encoding, as offsets: compared in place, since a
        // view per key was most of what decoding a statement allocated.
        let prevStart = -1
        let prevEnd = -1
        for (let i = 0; i < value; i++) {
          const start = this.pos
          const k = this.item(depth + 1)
          if (typeof k !== 'number' && typeof k !== 'string') throw malformed('map keys must be integers or text')
          if (prevStart >= 0) {
            const c = compareRanges(this.b, prevStart, prevEnd, start, this.pos)
            if (c === 0) throw malformed('duplicate map key')
            if (c > 0) throw malformed('map keys are not sorted by their encoded bytes')
          }
          prevStart = start
          prevEnd = this.pos
          out.set(k, this.item(depth + 1))
        }
        return out
      }
      case 6:
        throw malformed(`unexpected tag ${value}`)
      default:
        throw malformed('unknown major type')
    }
  }
}
