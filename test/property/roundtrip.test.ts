/** encode(parse(b)) = b, and parse(encode(x)) = x, for generated values of every format. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64, fromHex, toBase64, toHex } from '../../src/core/bytes.ts'
import { encodeCheckpoint, parseCheckpoint } from '../../src/core/checkpoint.ts'
import { decodeCbor, encodeCbor, type CborValue } from '../../src/core/codec.ts'
import { credentialSignedBytes, encodeCredential, parseCredential, type Credential } from '../../src/core/credential.ts'
import { CREDENTIAL_VERSION } from '../../src/core/hash.ts'
import { encodeNote, parseNote } from '../../src/core/note.ts'
import { encodeTlogProof, parseTlogProof } from '../../src/core/proof.ts'
import { publicKeyFromSeed, signSync } from '../../src/core/sig.ts'
import { buildStatementSync, parseStatement, type ActionStatement } from '../../src/core/statement.ts'
import { parseTilePath, tilePath } from '../../src/core/tiles.ts'
import { encodeAddCheckpointRequest, parseAddCheckpointRequest } from '../../src/core/witness-protocol.ts'

const RUNS = 300
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 })
// Text without newlines or control characters, as note lines need.
const line = fc.string({ unit: fc.constantFrom(...'abcxyz019 ./:-_é漢🙂'.split(/(?:)/u)), minLength: 1, maxLength: 40 })
const field = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
const keyName = fc.string({ unit: fc.constantFrom(...'abcdefghij.-/_0123456789'.split('')), minLength: 1, maxLength: 30 })

const cbor: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.maxSafeInteger(),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.integer(), fc.string()), tie('v')), { maxLength: 4 }).map((es) => new Map(es)),
  ),
})).v

const statement: fc.Arbitrary<ActionStatement> = fc.record(
  {
    actor: field,
    action: field,
    target: field,
    params: hash,
    tool: field,
    policy: fc.record({ id: field, version: field, decision: field, ref: fc.uint8Array({ minLength: 1, maxLength: 64 }) }, { requiredKeys: ['id', 'version', 'decision'] }),
    delegation: fc.array(fc.record({ principal: field, scope: field, grant: fc.uint8Array({ minLength: 1, maxLength: 64 }) }, { requiredKeys: ['principal', 'scope'] }), { minLength: 1, maxLength: 8 }),
    approval: fc.record({ by: field, ref: field }),
    time: fc.maxSafeNat(),
    nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  },
  { requiredKeys: ['actor', 'action', 'target', 'params', 'tool', 'policy', 'time', 'nonce'] },
)

describe('hex and base64', () => {
  it('match Node\'s own encoders for any bytes, and decode back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1100 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'))
        expect(toBase64(b)).toBe(Buffer.from(b).toString('base64'))
        expect(fromHex(toHex(b))).toEqual(b)
        expect(fromBase64(toBase64(b))).toEqual(b)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('round trips', () => {
  it('CBOR values', () => {
    fc.assert(
      fc.property(cbor, (v) => {
        const b = encodeCbor(v)
        expect(toHex(encodeCbor(decodeCbor(b)))).toBe(toHex(b))
      }),
      { numRuns: 2000 },
    )
  })

  it('statements: parse(build(s)) gives s back and the same bytes again', () => {
    const seed = new Uint8Array(32).fill(9)
    const cred: Credential = { issuer: 'i', subject: 's', subjectKey: publicKeyFromSeed(seed), notBefore: 0, notAfter: 1, signature: new Uint8Array(64) }
    fc.assert(
      fc.property(statement, (s) => {
        const entry = buildStatementSync(s, { seed, credentials: [cred] })
        const p = parseStatement(entry)
        expect(p.statement).toEqual(s)
        expect(toHex(buildStatementSync(p.statement, { seed, credentials: p.credentials }))).toBe(toHex(entry))
      }),
      { numRuns: RUNS },
    )
  })

  it('credentials', () => {
    fc.assert(
      fc.property(field, field, hash, fc.maxSafeNat(), fc.maxSafeNat(), fc.uint8Array({ minLength: 64, maxLength: 64 }), (issuer, subject, subjectKey, notBefore, notAfter, signature) => {
        const c = { issuer, subject, subjectKey, notBefore, notAfter, signature }
        const b = encodeCredential(c)
        expect(parseCredential(b)).toEqual(c)
        // The signed bytes are framed by hand; they must be what the generic encoder writes.
        expect(toHex(credentialSignedBytes(c))).toBe(toHex(encodeCbor([CREDENTIAL_VERSION, issuer, subject, subjectKey, notBefore, notAfter])))
      }),
      { numRuns: RUNS },
    )
  })

  it('checkpoints and signed notes', () => {
    const seed = new Uint8Array(32).fill(3)
    fc.assert(
      fc.property(line, fc.maxSafeNat(), hash, fc.array(line, { maxLength: 3 }), fc.array(keyName, { minLength: 1, maxLength: 5 }), (origin, treeSize, rootHash, extensions, names) => {
        const c = { origin, treeSize, rootHash, extensions }
        const text = encodeCheckpoint(c)
        expect(parseCheckpoint(text)).toEqual(c)
        const note = encodeNote({ text, signatures: names.map((name, i) => ({ name, keyId: i * 1000003, signature: signSync(seed, new Uint8Array([i])) })) })
        expect(encodeNote(parseNote(note))).toBe(note)
      }),
      { numRuns: RUNS },
    )
  })

  it('tlog-proofs and witness requests', () => {
    const note = 'o\n1\n' + 'A'.repeat(43) + '=\n\n\u2014 k AAAAAAA=\n'
    fc.assert(
      fc.property(fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 }), { nil: undefined }), fc.maxSafeNat(), fc.array(hash, { maxLength: 63 }), (extra, index, proof) => {
        const p = extra === undefined ? { index, proof, checkpoint: note } : { extra, index, proof, checkpoint: note }
        const text = encodeTlogProof(p)
        expect(parseTlogProof(text)).toEqual(p)
        const req = { oldSize: index, proof, checkpoint: note }
        expect(parseAddCheckpointRequest(encodeAddCheckpointRequest(req))).toEqual(req)
      }),
      { numRuns: RUNS },
    )
  })

  it('tile paths', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 63 }), fc.constant('entries' as const)), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 }), (level, index, width) => {
        const t = { level, index, width }
        expect(parseTilePath(tilePath(t))).toEqual(t)
      }),
      { numRuns: 2000 },
    )
  })
})
