import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../../src/core/bytes.ts'
import { checkCredentialChain, createCredentialCache, issueCredential, parseCredential, encodeCredential, type Credential } from '../../../src/core/credential.ts'
import { isTlogError } from '../../../src/core/errors.ts'
import { leafHash, sha256 } from '../../../src/core/hash.ts'
import { encodeVerifierKey } from '../../../src/core/note.ts'
import { parseTrustedIssuers } from '../../../src/core/policy.ts'
import { publicKeyFromSeed } from '../../../src/core/sig.ts'
import {
  buildStatement,
  buildStatementSync,
  checkStatement,
  encodePayload,
  encodeProtectedHeader,
  parseStatement,
  sigStructure,
  type ActionStatement,
} from '../../../src/core/statement.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

const V = loadSharedStatementVectors()
const issuers = parseTrustedIssuers(V.issuers_file)
const vectorKeys = Object.values(V.keys).filter((k: any) => typeof k?.seed_hex === 'string') as { name: string; seed_hex: string; public_hex: string; vkey?: string }[]
const seedOf: Record<string, string> = Object.fromEntries(vectorKeys.map((k) => [k.public_hex, k.seed_hex]))
const issuerKeys = vectorKeys.filter((k) => k.vkey !== undefined)

describe('shared statement vectors (independent Go implementation)', () => {
  it('names the independent source', () => {
    expect(V.source).toMatch(/independent implementation/)
    expect(V.valid.length).toBeGreaterThan(0)
    expect(V.invalid.length).toBeGreaterThan(0)
  })

  it('derives the listed keys from SHA-256 of the seed labels', () => {
    const seeds = (V.keys.seed_labels as string[]).map((l) => toHex(sha256(new TextEncoder().encode(l))))
    for (const k of Object.keys(V.keys).filter((k) => k !== 'seed_labels')) {
      expect(seeds).toContain(V.keys[k].seed_hex)
      expect(toHex(publicKeyFromSeed(fromHex(V.keys[k].seed_hex)))).toBe(V.keys[k].public_hex)
    }
    expect(encodeVerifierKey(V.keys.issuer.name, 1, fromHex(V.keys.issuer.public_hex))).toBe(V.keys.issuer.vkey)
  })

  for (const v of V.valid) {
    describe(v.name, () => {
      const entry = fromHex(v.entry_hex)

      it('parses to the listed fields and leaf hash', () => {
        const s = parseStatement(entry)
        expect(s.statement.actor).toBe(v.want.actor)
        expect(s.statement.action).toBe(v.want.action)
        expect(s.statement.target).toBe(v.want.target)
        expect(s.statement.tool).toBe(v.want.tool)
        expect(String(s.statement.time)).toBe(v.want.time)
        expect(toHex(s.kid)).toBe(v.want.kid_hex)
        expect(toHex(leafHash(entry))).toBe(v.leaf_hash_hex)
        expect(toHex(s.protectedHeader)).toBe(v.protected_hex)
        expect(toHex(s.payload)).toBe(v.payload_hex)
        expect(toHex(sigStructure(s.protectedHeader, s.payload))).toBe(v.sig_structure_hex)
        expect(s.credentials.map((c) => toHex(encodeCredential(c)))).toEqual(v.credentials_hex)
      })

      it('verifies against the vector issuers file', async () => {
        const lineage = await checkStatement(parseStatement(entry), { issuers })
        expect(lineage.org).toBe('acme')
        expect(lineage.issuer).toBe(V.keys.issuer.name)
        expect(lineage.links.length).toBe(v.credentials_hex.length)
        // The actor's link is its identity; every link above it is a namespace holding it.
        expect(lineage.links.map((l) => l.role)).toEqual(lineage.links.map((_, i) => (i === 0 ? 'identity' : 'namespace')))
        for (let i = 1; i < lineage.links.length; i++) expect(lineage.links[i - 1]!.subject.startsWith(lineage.links[i]!.subject)).toBe(true)
      })

      it('is rebuilt byte for byte from the seed, the fields and the credentials', async () => {
        const s = parseStatement(entry)
        const credentials = (v.credentials_hex as string[]).map((h) => parseCredential(fromHex(h)))
        const seed = fromHex(V.keys.agent.seed_hex)
        expect(toHex(await buildStatement(s.statement, { seed, credentials }))).toBe(v.entry_hex)
        expect(toHex(buildStatementSync(s.statement, { seed, credentials }))).toBe(v.entry_hex)
        expect(toHex(encodePayload(s.statement))).toBe(v.payload_hex)
        expect(toHex(encodeProtectedHeader(s.kid, credentials))).toBe(v.protected_hex)
      })

      it('re-issues its credentials byte for byte from the issuer seeds', async () => {
        const credentials = (v.credentials_hex as string[]).map((h) => parseCredential(fromHex(h)))
        for (const [i, c] of credentials.entries()) {
          // Credential i is signed by chain[i+1]'s key; the last by one of its issuer name's keys.
          const signers = i + 1 < credentials.length ? [toHex(credentials[i + 1]!.subjectKey)] : issuerKeys.filter((k) => k.name === c.issuer).map((k) => k.public_hex)
          const { signature: _, ...fields } = c
          const again = await Promise.all(signers.map(async (pub) => toHex(encodeCredential(await issueCredential(fields, fromHex(seedOf[pub]!))))))
          expect(again).toContain(toHex(encodeCredential(c)))
        }
      })
    })
  }

  for (const v of V.invalid) {
    it(`refuses "${v.name}" with ${v.wantError}`, async () => {
      try {
        await checkStatement(parseStatement(fromHex(v.entry_hex)), { issuers })
        expect.fail('accepted')
      } catch (e) {
        expect(isTlogError(e), String(e)).toBe(true)
        expect((e as { code: string }).code).toBe(v.wantError)
      }
    })
  }
})

describe('building and checking statements', () => {
  const issuerSeed = new Uint8Array(32).fill(1)
  const agentSeed = new Uint8Array(32).fill(2)
  const issuerPub = publicKeyFromSeed(issuerSeed)
  const agentPub = publicKeyFromSeed(agentSeed)
  const trusted = parseTrustedIssuers(`# test\nissuer example ${encodeVerifierKey('issuer.example', 1, issuerPub)} svc:\n`)
  const base: ActionStatement = {
    actor: 'svc:deployer',
    action: 'deploy.release',
    target: 'k8s://prod/payments',
    params: new Uint8Array(32).fill(3),
    tool: 'ci://deploy@2.0.0',
    policy: { id: 'deploy', version: '3', decision: 'allow' },
    time: 1_800_000_000_000,
    nonce: new Uint8Array(16).fill(4),
  }
  const cred = (over: Partial<Credential> = {}): Promise<Credential> =>
    issueCredential({ issuer: 'issuer.example', subject: 'svc:deployer', subjectKey: agentPub, notBefore: 0, notAfter: 2 ** 50, ...over }, issuerSeed)

  it('caches verified credential signatures by bytes and signer', async () => {
    const cache = createCredentialCache(10)
    const entry = await buildStatement(base, { seed: agentSeed, credentials: [await cred()] })
    await checkStatement(parseStatement(entry), { issuers: trusted, cache })
    const hit = { ...cache, n: 0 }
    const counting = { has: (k: string) => (cache.has(k) ? (hit.n++, true) : false), add: (k: string) => cache.add(k) }
    await checkStatement(parseStatement(entry), { issuers: trusted, cache: counting })
    expect(hit.n).toBe(1)
  })

  it('never lets a cached credential answer for one with any signed field, the signature or the signer changed', async () => {
    const cache = createCredentialCache(10)
    const good = await cred()
    const ctx = { actor: 'svc:deployer', kid: agentPub, time: base.time, issuers: trusted, cache }
    await checkCredentialChain([good], ctx)
    const otherKey = publicKeyFromSeed(new Uint8Array(32).fill(9))
    const flipped = good.signature.slice()
    flipped[5]! ^= 1
    const variants: [string, Credential, Uint8Array][] = [
      ['notBefore', { ...good, notBefore: good.notBefore + 1 }, agentPub],
      ['notAfter', { ...good, notAfter: good.notAfter - 1 }, agentPub],
      ['subjectKey', { ...good, subjectKey: otherKey }, otherKey],
      ['signature', { ...good, signature: flipped }, agentPub],
    ]
    for (const [field, c, kid] of variants) {
      await expect(checkCredentialChain([c], { ...ctx, kid }), field).rejects.toMatchObject({ code: 'BAD_SIGNATURE' })
    }
    // The same credential under a rotated issuer key is checked afresh, not answered from the cache.
    const rotated = parseTrustedIssuers(`# test\nissuer example ${encodeVerifierKey('issuer.example', 1, otherKey)} svc:\n`)
    await expect(checkCredentialChain([good], { ...ctx, issuers: rotated })).rejects.toMatchObject({ code: 'BAD_SIGNATURE' })
    await expect(checkCredentialChain([good], ctx)).resolves.toMatchObject({ issuer: 'issuer.example' })
  })

  it('parses a repeated protected header once, sharing a frozen result between statements', async () => {
    const chain = [await cred()]
    const a = parseStatement(await buildStatement(base, { seed: agentSeed, credentials: chain }))
    const b = parseStatement(await buildStatement({ ...base, target: 'k8s://prod/ledger' }, { seed: agentSeed, credentials: chain }))
    expect(b.statement.target).toBe('k8s://prod/ledger')
    expect(b.credentials).toBe(a.credentials)
    expect(Object.isFrozen(a.credentials) && Object.isFrozen(a.credentials[0])).toBe(true)
    expect(() => {
      ;(a.credentials[0] as { subject: string }).subject = 'svc:other'
    }).toThrow(TypeError)
    expect(a.credentials[0]!.subject).toBe('svc:deployer')
  })

  it('never answers a protected header from the cache for other bytes, nor keeps one that does not parse', async () => {
    const entry = await buildStatement(base, { seed: agentSeed, credentials: [await cred()] })
    const original = parseStatement(entry)
    // The header's kid is the first copy of the key in the entry (label 4 sorts before the chain).
    const at = Buffer.from(entry).indexOf(Buffer.from(agentPub))
    const otherKid = entry.slice()
    otherKid[at + 3]! ^= 0x40
    const parsed = parseStatement(otherKid)
    expect(toHex(parsed.kid)).not.toBe(toHex(original.kid))
    expect(toHex(parsed.kid)).toBe(toHex(otherKid.subarray(at, at + 32)))
    await expect(checkStatement(parsed, { issuers: trusted })).rejects.toMatchObject({ code: 'BAD_SIGNATURE' })
    // alg -19 (0x32) becomes -20: refused every time, and the good header still parses.
    const alg = Buffer.from(entry).indexOf(Buffer.from([0x01, 0x32]))
    const badAlg = entry.slice()
    badAlg[alg + 1] = 0x33
    for (let i = 0; i < 2; i++) expect(() => parseStatement(badAlg)).toThrow(/alg must be -19/)
    expect(toHex(parseStatement(entry).kid)).toBe(toHex(agentPub))
  })

  it('checks a frozen chain from a parsed statement afresh under another issuer key', async () => {
    const cache = createCredentialCache(10)
    const s = parseStatement(await buildStatement(base, { seed: agentSeed, credentials: [await cred()] }))
    expect(Object.isFrozen(s.credentials[0])).toBe(true)
    const lineage = await checkStatement(s, { issuers: trusted, cache })
    expect(lineage.links).toEqual([{ issuer: 'issuer.example', subject: 'svc:deployer', subjectKey: toHex(agentPub), notBefore: 0, notAfter: 2 ** 50, role: 'identity' }])
    // The links of one frozen chain are shared between verdicts, so they are frozen too.
    expect((await checkStatement(s, { issuers: trusted, cache })).links).toBe(lineage.links)
    expect(Object.isFrozen(lineage.links) && Object.isFrozen(lineage.links[0])).toBe(true)
    const rotated = parseTrustedIssuers(`# test\nissuer example ${encodeVerifierKey('issuer.example', 1, publicKeyFromSeed(new Uint8Array(32).fill(9)))} svc:\n`)
    await expect(checkStatement(s, { issuers: rotated, cache })).rejects.toMatchObject({ code: 'BAD_SIGNATURE' })
    await expect(checkStatement(s, { issuers: trusted, cache })).resolves.toMatchObject({ issuer: 'issuer.example' })
  })

  it('accepts a time exactly at either end of the window and refuses one outside it', async () => {
    for (const [nb, na, ok] of [
      [base.time, base.time, true],
      [base.time + 1, base.time + 5, false],
      [0, base.time - 1, false],
    ] as const) {
      const entry = await buildStatement(base, { seed: agentSeed, credentials: [await cred({ notBefore: nb, notAfter: na })] })
      const p = checkStatement(parseStatement(entry), { issuers: trusted })
      if (ok) await expect(p).resolves.toBeDefined()
      else await expect(p).rejects.toMatchObject({ code: 'UNTRUSTED' })
    }
  })

  it('refuses fields beyond the limits with MALFORMED', async () => {
    const c = await cred()
    const tooLong = { ...base, action: 'x'.repeat(1025) }
    await expect(buildStatement(tooLong, { seed: agentSeed, credentials: [c] })).rejects.toMatchObject({ code: 'MALFORMED' })
    const emptyDelegation = { ...base, delegation: [] }
    await expect(buildStatement(emptyDelegation, { seed: agentSeed, credentials: [c] })).rejects.toMatchObject({ code: 'MALFORMED' })
    const nine = { ...base, delegation: Array.from({ length: 9 }, () => ({ principal: 'p', scope: 's' })) }
    await expect(buildStatement(nine, { seed: agentSeed, credentials: [c] })).rejects.toMatchObject({ code: 'MALFORMED' })
    const eight = { ...base, delegation: Array.from({ length: 8 }, () => ({ principal: 'p', scope: 's' })) }
    expect(parseStatement(await buildStatement(eight, { seed: agentSeed, credentials: [c] })).statement.delegation).toHaveLength(8)
  })

  it('refuses a chain of more than four credentials', async () => {
    const c = await cred()
    expect(() => encodeProtectedHeader(agentPub, [c, c, c, c, c])).toThrow(RangeError)
  })
})
