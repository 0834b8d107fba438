/**
 * Every parser, fed random and mutated input, either returns or throws a
 * TlogError: never another error type, never a crash. And whatever a strict
 * parser accepts is canonical: encoding what it parsed gives the input back.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from '../../src/core/bytes.ts'
import { encodeCheckpoint, parseCheckpoint } from '../../src/core/checkpoint.ts'
import { decodeCbor, encodeCbor } from '../../src/core/codec.ts'
import { encodeCredential, parseCredential } from '../../src/core/credential.ts'
import { TlogError } from '../../src/core/errors.ts'
import { encodeNote, encodeSignerKey, encodeVerifierKey, parseNote, parseSignatureLine, parseSignerKey, parseVerifierKey, encodeSignatureLine } from '../../src/core/note.ts'
import { encodePolicy, encodeTrustedIssuers, parsePolicy, parseTrustedIssuers } from '../../src/core/policy.ts'
import { encodeTlogProof, parseTlogProof } from '../../src/core/proof.ts'
import { encodePayload, encodeProtectedHeader, parseStatement } from '../../src/core/statement.ts'
import { REVOCATION_CONTENT_TYPE } from '../../src/core/hash.ts'
import { encodeRevocationPayload, parseRevocation } from '../../src/core/revocation.ts'
import { parseEntry } from '../../src/core/entry.ts'
import { encodeEntryBundle, parseEntryBundle, parseTilePath, tilePath } from '../../src/core/tiles.ts'
import {
  encodeAddCheckpointRequest,
  encodeCosignatureResponse,
  encodeSizeBody,
  parseAddCheckpointRequest,
  parseCosignatureResponse,
  parseSizeBody,
} from '../../src/core/witness-protocol.ts'
import { loadSharedStatementVectors } from '../helpers/vectors.ts'
import { samples } from './samples.ts'

const RUNS = 10_000
const V = loadSharedStatementVectors()

/** Runs `parse`; returns its result, or undefined when it threw a TlogError. Any other throw fails the property. */
function attempt<T>(parse: () => T): T | undefined {
  try {
    return parse()
  } catch (e) {
    if (e instanceof TlogError) return undefined
    throw new Error(`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} instead of a TlogError`)
  }
}

/** Mutations of a valid input: flip, insert, delete, truncate, duplicate a slice. */
function mutated(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = seed.length
  return fc.oneof(
    fc.record({ i: fc.nat(Math.max(0, n - 1)), b: fc.integer({ min: 1, max: 255 }) }).map(({ i, b }) => {
      const c = seed.slice()
      c[i] = (c[i] ?? 0) ^ b
      return c
    }),
    fc.record({ i: fc.nat(n), b: fc.uint8Array({ minLength: 1, maxLength: 4 }) }).map(({ i, b }) => new Uint8Array([...seed.subarray(0, i), ...b, ...seed.subarray(i)])),
    fc.record({ i: fc.nat(n), k: fc.integer({ min: 1, max: 8 }) }).map(({ i, k }) => new Uint8Array([...seed.subarray(0, i), ...seed.subarray(i + k)])),
    fc.nat(n).map((i) => seed.slice(0, i)),
    fc.record({ i: fc.nat(n), j: fc.nat(n) }).map(({ i, j }) => new Uint8Array([...seed, ...seed.subarray(Math.min(i, j), Math.max(i, j))])),
  )
}

function inputs(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
    { weight: 4, arbitrary: fc.constantFrom(...seeds).chain(mutated) },
  )
}

// Parsers of text formats take strings; the HTTP layer decodes bytes strictly, so do the same here.
const text = (b: Uint8Array): string => fromUtf8(b)

interface Case {
  name: string
  seeds: Uint8Array[]
  /** Parses, and when it succeeds returns the canonical re-encoding (or undefined for non-canonical formats). */
  parse: (b: Uint8Array) => Uint8Array | string | undefined
  /** Whether accepted input must re-encode to itself. */
  canonical: boolean
}

const S = samples()
const cases: Case[] = [
  { name: 'decodeCbor', seeds: S.cbor, parse: (b) => encodeCbor(decodeCbor(b)), canonical: true },
  {
    name: 'parseStatement',
    seeds: [...V.valid, ...V.invalid].map((v: { entry_hex: string }) => fromHex(v.entry_hex)),
    parse: (b) => {
      const s = parseStatement(b)
      // The payload and header the parser accepted re-encode to the same bytes.
      if (toHex(encodePayload(s.statement)) !== toHex(s.payload)) throw new Error('payload is not canonical')
      if (toHex(encodeProtectedHeader(s.kid, s.credentials)) !== toHex(s.protectedHeader)) throw new Error('header is not canonical')
      return s.entry
    },
    canonical: true,
  },
  {
    name: 'parseRevocation',
    seeds: [...V.revocations_valid, ...V.revocations_invalid].map((v: { entry_hex: string }) => fromHex(v.entry_hex)),
    parse: (b) => {
      const r = parseRevocation(b)
      if (toHex(encodeRevocationPayload(r.revocation)) !== toHex(r.payload)) throw new Error('payload is not canonical')
      if (toHex(encodeProtectedHeader(r.kid, r.credentials, REVOCATION_CONTENT_TYPE)) !== toHex(r.protectedHeader)) throw new Error('header is not canonical')
      return r.entry
    },
    canonical: true,
  },
  {
    name: 'parseEntry',
    seeds: [...V.valid, ...V.revocations_valid].map((v: { entry_hex: string }) => fromHex(v.entry_hex)),
    parse: (b) => {
      const e = parseEntry(b)
      return e.kind === 'statement' ? e.statement.entry : e.revocation.entry
    },
    canonical: true,
  },
  { name: 'parseCredential', seeds: S.credentials, parse: (b) => encodeCredential(parseCredential(b)), canonical: true },
  { name: 'parseNote', seeds: S.notes, parse: (b) => encodeNote(parseNote(b)), canonical: true },
  { name: 'parseSignatureLine', seeds: S.notes.map((n) => utf8(text(n).split('\n\n').pop()!.split('\n')[0]!)), parse: (b) => encodeSignatureLine(parseSignatureLine(text(b))), canonical: false },
  {
    name: 'parseVerifierKey',
    seeds: S.vkeys,
    parse: (b) => {
      const k = parseVerifierKey(text(b))
      return encodeVerifierKey(k.name, k.type, k.publicKey)
    },
    canonical: true,
  },
  {
    name: 'parseSignerKey',
    seeds: S.skeys,
    parse: (b) => {
      const k = parseSignerKey(text(b))
      return encodeSignerKey(k.name, k.type, k.seed)
    },
    canonical: true,
  },
  { name: 'parseCheckpoint', seeds: S.checkpoints, parse: (b) => encodeCheckpoint(parseCheckpoint(text(b))), canonical: true },
  { name: 'parseTlogProof', seeds: S.proofs, parse: (b) => encodeTlogProof(parseTlogProof(b)), canonical: true },
  { name: 'parseAddCheckpointRequest', seeds: S.witnessRequests, parse: (b) => encodeAddCheckpointRequest(parseAddCheckpointRequest(b)), canonical: true },
  { name: 'parseCosignatureResponse', seeds: S.witnessResponses, parse: (b) => encodeCosignatureResponse(parseCosignatureResponse(text(b))), canonical: true },
  { name: 'parseSizeBody', seeds: [utf8('0\n'), utf8('12345\n')], parse: (b) => encodeSizeBody(parseSizeBody(text(b))), canonical: true },
  { name: 'parsePolicy', seeds: S.policies, parse: (b) => encodePolicy(parsePolicy(b)), canonical: false },
  { name: 'parseTrustedIssuers', seeds: S.issuers, parse: (b) => encodeTrustedIssuers(parseTrustedIssuers(b)), canonical: false },
  { name: 'parseTilePath', seeds: S.tilePaths, parse: (b) => tilePath(parseTilePath(text(b))), canonical: true },
  { name: 'parseEntryBundle', seeds: S.bundles, parse: (b) => encodeEntryBundle(parseEntryBundle(b)), canonical: true },
  { name: 'fromBase64', seeds: S.base64, parse: (b) => toBase64(fromBase64(text(b))), canonical: true },
]

describe('parsers throw only TlogError on random and mutated input', () => {
  for (const c of cases) {
    it(`${c.name}: ${RUNS} cases${c.canonical ? ', and what it accepts is canonical' : ''}`, () => {
      let accepted = 0
      fc.assert(
        fc.property(inputs(c.seeds), (b) => {
          const out = attempt(() => c.parse(b))
          if (out === undefined) return
          accepted++
          if (!c.canonical) return
          const again = typeof out === 'string' ? utf8(out) : out
          // A parser that ignored the bad bytes of invalid UTF-8 would decode; compare raw bytes.
          expect(toHex(again)).toBe(toHex(b))
        }),
        { numRuns: RUNS },
      )
      // Mutations keep some inputs valid (a flipped bit in a text field, say); seeing none
      // accepted would mean the generator only ever produced garbage.
      if (c.name !== 'parseSignerKey' && c.name !== 'parseVerifierKey') expect(accepted).toBeGreaterThan(0)
    })
  }

  it('the seeds of every case include valid inputs that parse', () => {
    for (const c of cases) {
      const ok = c.seeds.filter((s) => attempt(() => c.parse(s)) !== undefined)
      expect(ok.length, c.name).toBeGreaterThan(0)
    }
  })
})

describe('round trips: encode(parse(b)) = b for every valid sample', () => {
  for (const c of cases.filter((x) => x.canonical)) {
    it(c.name, () => {
      for (const s of c.seeds) {
        const out = attempt(() => c.parse(s))
        if (out === undefined) continue
        expect(toHex(typeof out === 'string' ? utf8(out) : out)).toBe(toHex(s))
      }
    })
  }
})
