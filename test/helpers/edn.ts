/** CBOR diagnostic notation (RFC 8949 §8) for actlog's data model, for documentation examples. */
import type { CborValue } from '../../src/core/codec.ts'

export function toDiagnostic(v: CborValue, indent = 0): string {
  const pad = (n: number): string => '  '.repeat(n)
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return JSON.stringify(v)
  if (v instanceof Uint8Array) return `h'${Buffer.from(v).toString('hex')}'`
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]'
    const simple = v.every((x) => typeof x === 'number' || (typeof x === 'string' && x.length < 30))
    if (simple) return `[${v.map((x) => toDiagnostic(x)).join(', ')}]`
    return `[\n${v.map((x) => pad(indent + 1) + toDiagnostic(x, indent + 1)).join(',\n')}\n${pad(indent)}]`
  }
  if (v.size === 0) return '{}'
  const entries = [...v.entries()].map(([k, x]) => `${pad(indent + 1)}${toDiagnostic(k)}: ${toDiagnostic(x, indent + 1)}`)
  return `{\n${entries.join(',\n')}\n${pad(indent)}}`
}

/** Hex split into lines of `width` characters. */
export function wrapHex(hex: string, width = 64): string {
  const out: string[] = []
  for (let i = 0; i < hex.length; i += width) out.push(hex.slice(i, i + width))
  return out.join('\n')
}
