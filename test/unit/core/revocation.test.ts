import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../../src/core/bytes.ts'
import { encodeCredential, issueCredential } from '../../../src/core/credential.ts'
import { checkLogEntry, parseEntry } from '../../../src/core/entry.ts'
import { isTlogError } from '../../../src/core/errors.ts'
import { leafHash } from '../../../src/core/hash.ts'
import { parseTrustedIssuers } from '../../../src/core/policy.ts'
import { buildRevocation, checkRevocation, encodeRevocationPayload, parseRevocation } from '../../../src/core/revocation.ts'
import { RevocationState, type RevocationRecord } from '../../../src/core/revocation-state.ts'
import { publicKeyFromSeed } from '../../../src/core/sig.ts'
import { buildStatement, encodeProtectedHeader, parseStatement, sigStructure } from '../../../src/core/statement.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

const V = loadSharedStatementVectors()
const issuers = parseTrustedIssuers(V.issuers_file)
const seedOf: Record<string, string> = Object.fromEntries(
  Object.values(V.keys)
    .filter((k: any) => typeof k?.seed_hex === 'string')
    .map((k: any) => [k.public_hex, k.seed_hex]),
)

async function codeOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f()
    return 'ok'
  } catch (e) {
    expect(isTlogError(e), String(e)).toBe(true)
    return (e as { code: string }).code
  }
}

describe('shared revocation vectors (independent Go implementation)', () => {
  for (const v of V.revocations_valid) {
    describe(v.name, () => {
      const entry = fromHex(v.entry_hex)

      it('parses to the listed fields, parts and leaf hash', () => {
        const r = parseRevocation(entry)
        expect(r.revocation.subject).toBe(v.want.subject)
        expect(toHex(r.revocation.key)).toBe(v.want.key_hex)
        expect(r.revocation.reason).toBe(v.want.reason)
        expect(String(r.revocation.time)).toBe(v.want.time)
        expect(r.revocation.since === undefined ? undefined : String(r.revocation.since)).toBe(v.want.since)
        expect(toHex(r.protectedHeader)).toBe(v.protected_hex)
        expect(toHex(r.payload)).toBe(v.payload_hex)
        expect(toHex(sigStructure(r.protectedHeader, r.payload))).toBe(v.sig_structure_hex)
        expect(r.credentials.map((c) => toHex(encodeCredential(c)))).toEqual(v.credentials_hex)
        expect(toHex(leafHash(entry))).toBe(v.leaf_hash_hex)
        expect(parseEntry(entry).kind).toBe('revocation')
      })

      it(`verifies with authority ${v.want.authority}`, async () => {
        const got = await checkRevocation(parseRevocation(entry), { issuers })
        expect(got.authority).toBe(v.want.authority)
        expect(got.org).toBe('acme')
        expect(got.lineage === undefined).toBe(v.credentials_hex.length === 0)
      })

      it('is rebuilt byte for byte from the revoker seed, the fields and the chain', async () => {
        const r = parseRevocation(entry)
        const seed = fromHex(seedOf[toHex(r.kid)]!)
        expect(toHex(encodeRevocationPayload(r.revocation))).toBe(v.payload_hex)
        expect(toHex(await buildRevocation(r.revocation, { seed, credentials: r.credentials }))).toBe(v.entry_hex)
      })
    })
  }

  for (const v of V.revocations_invalid) {
    it(`refuses "${v.name}" with ${v.wantError}`, async () => {
      expect(await codeOf(async () => checkRevocation(parseRevocation(fromHex(v.entry_hex)), { issuers }))).toBe(v.wantError)
      // Dispatched on the content type, an entry gives the same verdict.
      expect(await codeOf(async () => checkLogEntry(parseEntry(fromHex(v.entry_hex)), 0, { issuers, revocations: new RevocationState() }))).toBe(v.wantError)
    })
  }

  for (const v of V.valid) {
    it(`dispatches the statement "${v.name}" on its content type`, async () => {
      const e = parseEntry(fromHex(v.entry_hex))
      expect(e.kind).toBe('statement')
      expect(await codeOf(async () => checkLogEntry(e, 0, { issuers, revocations: new RevocationState() }))).toBe('ok')
    })
  }
})

/** Returns the verdict of every entry of a sequence read in log order from an empty log. */
async function runSequence(entries: string[]): Promise<{ verdicts: string[]; state: RevocationState; records: RevocationRecord[] }> {
  const state = new RevocationState()
  const verdicts: string[] = []
  const records: RevocationRecord[] = []
  for (const [i, hex] of entries.entries()) {
    let verdict = 'ok'
    try {
      const got = await checkLogEntry(parseEntry(fromHex(hex)), i, { issuers, revocations: state })
      if (got.kind === 'revocation') {
        state.add(got.record)
        records.push(got.record)
      }
    } catch (e) {
      expect(isTlogError(e), String(e)).toBe(true)
      verdict = (e as { code: string }).code
    }
    verdicts.push(verdict)
  }
  return { verdicts, state, records }
}

describe('shared log-order sequences', () => {
  for (const seq of V.sequences) {
    it(`${seq.name}: ${(seq.want as string[]).join(', ')}`, async () => {
      const { verdicts } = await runSequence(seq.entries_hex)
      expect(verdicts).toEqual(seq.want)
    })
  }

  it('names the revocation index in a REVOKED message', async () => {
    const seq = V.sequences[0]
    const { state } = await runSequence(seq.entries_hex.slice(0, 2))
    await expect(checkLogEntry(parseEntry(fromHex(seq.entries_hex[2])), 2, { issuers, revocations: state })).rejects.toThrow(/revoked by log entry 1/)
    // The same entry before the revocation's index is not revoked: log order decides.
    await expect(checkLogEntry(parseEntry(fromHex(seq.entries_hex[2])), 1, { issuers, revocations: state })).resolves.toMatchObject({ kind: 'statement' })
  })

  it('reports earlier entries at or after since as suspect, later ones as revoked', async () => {
    const seq = V.sequences.find((s: any) => /since/.test(s.name))
    const { state, records } = await runSequence(seq.entries_hex)
    expect(records[0]!.since).toBeDefined()
    const before = parseStatement(fromHex(seq.entries_hex[0]))
    const rev = records[0]!
    expect(state.suspectFor(before.credentials, before.statement.time, rev.index - 1).map((r) => r.index)).toEqual([rev.index])
    expect(state.suspectFor(before.credentials, rev.since! - 1, rev.index - 1)).toEqual([])
    expect(state.suspectFor(before.credentials, before.statement.time, rev.index + 1)).toEqual([])
    expect(state.ofSubject(rev.subject)).toEqual([rev])
  })
})

describe('building and checking revocations', () => {
  const issuerSeed = fromHex(V.keys.issuer.seed_hex)
  const nsSeed = new Uint8Array(32).fill(7)
  const agentSeed = new Uint8Array(32).fill(8)
  const t = 1_767_225_600_000
  const window = { notBefore: t - 1000, notAfter: t + 86_400_000 }

  it('refuses since after time, an empty reason and an oversize reason when building', async () => {
    const base = { subject: 'spiffe://acme.example/agent/x', key: publicKeyFromSeed(agentSeed), time: t, reason: 'r' }
    for (const bad of [{ ...base, since: t + 1 }, { ...base, reason: '' }, { ...base, reason: 'x'.repeat(1025) }]) {
      await expect(buildRevocation(bad, { seed: issuerSeed, credentials: [] })).rejects.toMatchObject({ code: 'MALFORMED' })
    }
    expect(() => encodeProtectedHeader(publicKeyFromSeed(agentSeed), [])).toThrow(RangeError)
  })

  it('lets a namespace revoke inside itself only, and never its own subject', async () => {
    const ns = await issueCredential({ issuer: V.keys.issuer.name, subject: 'spiffe://acme.example/team/', subjectKey: publicKeyFromSeed(nsSeed), ...window }, issuerSeed)
    const revoke = async (subject: string): Promise<string> =>
      codeOf(async () => checkRevocation(parseRevocation(await buildRevocation({ subject, key: publicKeyFromSeed(agentSeed), time: t, reason: 'left' }, { seed: nsSeed, credentials: [ns] })), { issuers }))
    expect(await revoke('spiffe://acme.example/team/bot')).toBe('ok')
    expect(await revoke('spiffe://acme.example/team/')).toBe('UNTRUSTED')
    expect(await revoke('spiffe://acme.example/teamster')).toBe('UNTRUSTED')
  })

  it('refuses a statement signed by a namespace key and a statement payload under the revocation type', async () => {
    const ns = await issueCredential({ issuer: V.keys.issuer.name, subject: 'spiffe://acme.example/team/', subjectKey: publicKeyFromSeed(nsSeed), ...window }, issuerSeed)
    const st = parseStatement(fromHex(V.valid[1].entry_hex)).statement
    const entry = await buildStatement({ ...st, actor: 'spiffe://acme.example/team/', time: t }, { seed: nsSeed, credentials: [ns] })
    expect(await codeOf(async () => checkLogEntry(parseEntry(entry), 0, { issuers, revocations: new RevocationState() }))).toBe('UNTRUSTED')
  })
})

describe('revocation state', () => {
  const rec = (index: number, subject = 'spiffe://acme.example/agent/a', key = 'ab'.repeat(32)): RevocationRecord => ({
    index,
    subject,
    key,
    time: 1,
    reason: 'r',
    authority: 'issuer',
    revoker: 'cd'.repeat(32),
  })

  it('takes revocations in log order only', () => {
    const s = new RevocationState()
    s.add(rec(3))
    expect(() => s.add(rec(3))).toThrow(RangeError)
    expect(() => s.add(rec(2))).toThrow(RangeError)
  })

  it('keeps the earliest revocation of a pair and round-trips through JSON', () => {
    const s = new RevocationState()
    s.addAll([rec(1), rec(5), rec(6, 'spiffe://acme.example/agent/b')])
    const chain = [{ issuer: 'i', subject: 'spiffe://acme.example/agent/a', subjectKey: fromHex('ab'.repeat(32)), notBefore: 0, notAfter: 9, signature: new Uint8Array(64) }]
    expect(s.revokedAt(chain, 7)?.index).toBe(1)
    expect(s.revokedAt(chain, 1)).toBeUndefined()
    const again = RevocationState.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
    expect(again.toJSON()).toEqual(s.toJSON())
    expect(() => RevocationState.fromJSON([{ ...rec(1), key: 'zz' }])).toThrow(expect.objectContaining({ code: 'CORRUPT' }))
    expect(() => RevocationState.fromJSON([rec(2), rec(1)])).toThrow(expect.objectContaining({ code: 'CORRUPT' }))
  })
})
