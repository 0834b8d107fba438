import { TlogError } from './errors.ts'

/**
 * Byte helpers shared by every format. Core code works on Uint8Array only;
 * hex and base64 appear only at the edges (text formats, JSON, CLI).
 */

const HEX = '0123456789abcdef'
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const B64_INDEX = new Int16Array(256).fill(-1)
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i

const HEX_CODES = Uint8Array.from(HEX, (c) => c.charCodeAt(0))
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0))
const asciiDecoder = new TextDecoder('utf-8', { ignoreBOM: true })

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Returns the lowercase hex encoding of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  // Written as ASCII bytes and decoded once: building the string by
  // concatenation leaves a rope that costs an allocation per character.
  const out = new Uint8Array(bytes.length * 2)
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    out[2 * i] = HEX_CODES[b >> 4]!
    out[2 * i + 1] = HEX_CODES[b & 15]!
  }
  return asciiDecoder.decode(out)
}

/**
 * Returns the bytes of a hex string. Accepts lower- and uppercase digits;
 * throws MALFORMED on odd length or any other character.
 */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new TlogError('MALFORMED', 'hex string has an odd length')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigit(hex.charCodeAt(2 * i))
    const lo = hexDigit(hex.charCodeAt(2 * i + 1))
    if (hi < 0 || lo < 0) throw new TlogError('MALFORMED', 'hex string has a non-hex character')
    out[i] = (hi << 4) | lo
  }
  return out
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Returns the standard, padded base64 encoding (RFC 4648 §4) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(base64Length(bytes.length))
  writeBase64(bytes, out, 0)
  return asciiDecoder.decode(out)
}

/** Length of the padded base64 encoding of `n` bytes. */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4
}

/**
 * Writes the padded base64 of `bytes` as ASCII into `out` at `offset` and
 * returns the offset after it: for text formats assembled as bytes and
 * decoded once.
 */
export function writeBase64(bytes: Uint8Array, out: Uint8Array, offset: number): number {
  let i = 0
  let o = offset
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out[o++] = B64_CODES[n >> 18]!
    out[o++] = B64_CODES[(n >> 12) & 63]!
    out[o++] = B64_CODES[(n >> 6) & 63]!
    out[o++] = B64_CODES[n & 63]!
  }
  const rest = bytes.length - i
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0)
    out[o++] = B64_CODES[n >> 18]!
    out[o++] = B64_CODES[(n >> 12) & 63]!
    out[o++] = rest === 2 ? B64_CODES[(n >> 6) & 63]! : 61
    out[o++] = 61
  }
  return o
}

/** Returns the text of ASCII bytes (as written by writeBase64). */
export function fromAscii(bytes: Uint8Array): string {
  return asciiDecoder.decode(bytes)
}

/**
 * Returns the bytes of a standard, padded base64 string (RFC 4648 §4).
 * Strict: no whitespace, no URL alphabet, padding required, and the unused
 * bits of the last character MUST be zero, so every byte string has exactly
 * one accepted encoding. Throws MALFORMED otherwise.
 */
export function fromBase64(s: string): Uint8Array {
  if (s.length % 4 !== 0) throw new TlogError('MALFORMED', 'base64 length is not a multiple of 4')
  let pad = 0
  if (s.endsWith('==')) pad = 2
  else if (s.endsWith('=')) pad = 1
  const out = new Uint8Array((s.length / 4) * 3 - pad)
  let o = 0
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length
    const c0 = b64Digit(s, i)
    const c1 = b64Digit(s, i + 1)
    if (last && pad === 2) {
      if ((c1 & 15) !== 0) throw new TlogError('MALFORMED', 'base64 has non-zero padding bits')
      out[o++] = (c0 << 2) | (c1 >> 4)
      break
    }
    const c2 = b64Digit(s, i + 2)
    if (last && pad === 1) {
      if ((c2 & 3) !== 0) throw new TlogError('MALFORMED', 'base64 has non-zero padding bits')
      out[o++] = (c0 << 2) | (c1 >> 4)
      out[o++] = ((c1 & 15) << 4) | (c2 >> 2)
      break
    }
    const c3 = b64Digit(s, i + 3)
    out[o++] = (c0 << 2) | (c1 >> 4)
    out[o++] = ((c1 & 15) << 4) | (c2 >> 2)
    out[o++] = ((c2 & 3) << 6) | c3
  }
  return out
}

function b64Digit(s: string, i: number): number {
  const c = s.charCodeAt(i)
  const v = c < 256 ? B64_INDEX[c]! : -1
  if (v < 0) throw new TlogError('MALFORMED', 'base64 has a character outside the standard alphabet')
  return v
}

/** Returns the UTF-8 encoding of `s`. */
export function utf8(s: string): Uint8Array {
  return utf8Encoder.encode(s)
}

/** Returns true when the UTF-8 encoding of `s` is at most `limit` bytes. */
export function utf8Within(s: string, limit: number): boolean {
  // UTF-8 takes at most 3 bytes per UTF-16 unit (4 per surrogate pair), so
  // short text needs no counting: most fields are far below their limits.
  return s.length * 3 <= limit || utf8Length(s, limit) <= limit
}

/**
 * Returns the UTF-8 length of `s` (lone surrogates count as the 3-byte
 * replacement character), without encoding it; stops counting once past
 * `limit`, so an attacker's huge string costs no more than `limit` to size.
 */
export function utf8Length(s: string, limit = Infinity): number {
  if (s.length > limit) return s.length
  let n = 0
  for (let i = 0; i < s.length && n <= limit; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/**
 * Writes the UTF-8 of `s` into `out` at `offset` (which MUST have room for
 * utf8Length(s) bytes) and returns the offset after it.
 */
export function writeUtf8(s: string, out: Uint8Array, offset: number): number {
  let o = offset
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) return o + utf8Encoder.encodeInto(s.slice(i), out.subarray(o)).written
    out[o++] = c
  }
  return o
}

/** Returns the text of UTF-8 `bytes`; throws MALFORMED on invalid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  // Short ASCII (map keys, names, versions) is most text in actlog's
  // formats, and a decoder call costs more than reading it here.
  if (bytes.length <= 64) {
    let ascii = true
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i]! > 0x7f) {
        ascii = false
        break
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[])
  }
  try {
    return utf8Decoder.decode(bytes)
  } catch (cause) {
    throw new TlogError('MALFORMED', 'text is not valid UTF-8', { cause })
  }
}

/** Returns true when `s` is well-formed UTF-16 (no lone surrogates), so it has a UTF-8 encoding. */
export function isWellFormedText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false
    }
  }
  return true
}

/** Returns the concatenation of `parts` as a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Returns true when `a` and `b` hold the same bytes. Not constant-time: for public data only. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Returns a negative, zero or positive number as `a` sorts before, with or after `b` (bytewise, then by length). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** Returns a fresh plain Uint8Array copy of `bytes` (never a Buffer or a view into a larger buffer). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length)
  out.set(bytes)
  return out
}

/** Returns the 8-byte big-endian encoding of a safe non-negative integer. */
export function u64be(n: number | bigint): Uint8Array {
  const v = typeof n === 'bigint' ? n : BigInt(n)
  if (v < 0n || v >= 1n << 64n) throw new RangeError('u64 out of range')
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, v)
  return out
}

/** Returns the big-endian unsigned integer in the 8 bytes at `offset`. */
export function readU64be(bytes: Uint8Array, offset = 0): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(offset)
}

/** Returns the 4-byte big-endian encoding of a uint32. */
export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('u32 out of range')
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

/** Returns the big-endian uint32 in the 4 bytes at `offset`. */
export function readU32be(bytes: Uint8Array, offset = 0): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset)
}

/** Returns true when `n` is a safe non-negative integer: the rule for every size and index. */
export function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

const DECIMAL = /^(0|[1-9][0-9]*)$/

/**
 * Returns the number a canonical ASCII decimal denotes (no sign, no leading
 * zeroes unless it is `0`). Throws MALFORMED when it is not canonical or
 * exceeds 2^53 - 1, the largest size this implementation represents.
 */
export function parseDecimal(s: string, what: string): number {
  if (s.length > 16 || !DECIMAL.test(s)) throw new TlogError('MALFORMED', `${what} is not a canonical decimal`)
  const n = Number(s)
  if (!Number.isSafeInteger(n)) throw new TlogError('MALFORMED', `${what} is out of range`)
  return n
}

/**
 * Returns a string of one character per byte: a compact, exact map key for
 * bytes. Made in slices of 256 (one call each; a character at a time leaves
 * a rope to flatten, and engines limit the number of arguments).
 */
export function binaryString(b: Uint8Array): string {
  if (b.length <= 256) return String.fromCharCode.apply(null, b as unknown as number[])
  let s = ''
  for (let i = 0; i < b.length; i += 256) s += String.fromCharCode.apply(null, b.subarray(i, i + 256) as unknown as number[])
  return s
}
