import { describe, expect, it } from 'vitest'
import {
  encodeCredentials,
  encodeKey,
  generateKey,
  issueCredentialChain,
  loadCredentials,
  loadKey,
  requestDigest,
  signAction,
  verifierKey,
  type Action,
} from '../../../src/client/index.ts'
import {
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  buildStatement,
  checkStatement,
  encodeSignerKey,
  fromHex,
  parseSignerKey,
  parseStatement,
  parseTrustedIssuers,
  parseVerifierKey,
  sha256,
  toHex,
  utf8,
} from '../../../src/core/index.ts'
import { ISSUERS_FILE, ISSUER_NAME, ISSUER_SEED, PREFIX } from '../../helpers/log-fixture.ts'

const issuer = parseSignerKey(encodeSignerKey(ISSUER_NAME, SIG_TYPE_ED25519, ISSUER_SEED))
const ACTION: Action = {
  action: 'payments.transfer',
  target: 'acct:DE89370400440532013000',
  tool: 'mcp://tools.acme.example/payments@1.4.2',
  params: requestDigest('{"amount":1200}'),
  policy: { id: 'payments-limit', version: '7', decision: 'allow', ref: 'abcd' },
  delegation: [{ principal: 'user:alice@acme.example', scope: 'payments:transfer', grant: new Uint8Array([9]) }],
  approval: { by: 'user:bob@acme.example', ref: 'CHG-1' },
}

describe('keys and credentials', () => {
  it('generates keys of each kind that round-trip through their text', () => {
    const actor = generateKey(`${PREFIX}agent/a`)
    expect(actor.type).toBe(SIG_TYPE_ED25519)
    expect(generateKey('w.example', 'witness').type).toBe(SIG_TYPE_COSIGNATURE_V1)
    expect(loadKey(`\n${encodeKey(actor)}\n`)).toEqual(actor)
    expect(parseVerifierKey(verifierKey(actor)).publicKey).toEqual(actor.publicKey)
    expect(generateKey('x.example').seed).not.toEqual(generateKey('x.example').seed)
  })

  it('refuses a key name with a space and an unknown kind', () => {
    expect(() => generateKey('has space')).toThrow(RangeError)
    expect(() => generateKey('x.example', 'root' as 'actor')).toThrow(RangeError)
  })

  it('issues a chain under a namespace, through an intermediate, that a log would accept', async () => {
    const now = Date.UTC(2026, 0, 1)
    const ns = generateKey(`${PREFIX}workload/`, 'issuer')
    const nsChain = await issueCredentialChain(issuer, { subject: ns.name, subjectKey: verifierKey(ns), now })
    const actor = generateKey(`${PREFIX}workload/deployer`)
    const chain = await issueCredentialChain(ns, { subject: actor.name, subjectKey: actor, namespace: PREFIX, issuerChain: nsChain, now })
    expect(chain.map((c) => c.subject)).toEqual([actor.name, ns.name])
    expect(chain[0]).toMatchObject({ issuer: ns.name, notBefore: now - 60_000, notAfter: now - 60_000 + 90 * 86_400_000 })
    expect(loadCredentials(encodeCredentials(chain, 'a comment\nwith a newline'))).toEqual(chain)
    const entry = await signAction(actor, chain, ACTION, { now })
    const lineage = await checkStatement(parseStatement(entry), { issuers: parseTrustedIssuers(ISSUERS_FILE) })
    expect(lineage.issuer).toBe(ISSUER_NAME)
    expect(lineage.links.map((l) => l.role)).toEqual(['identity', 'namespace'])
  })

  it('refuses a subject outside the namespace, a chain for someone else, an identity or a witness key as issuer, and a window backwards', async () => {
    const actor = generateKey('spiffe://elsewhere.example/agent')
    await expect(issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor, namespace: PREFIX })).rejects.toThrow(/outside the namespace/)
    const ns = generateKey(`${PREFIX}workload/`, 'issuer')
    const nsChain = await issueCredentialChain(issuer, { subject: ns.name, subjectKey: ns })
    await expect(issueCredentialChain(ns, { subject: actor.name, subjectKey: actor, issuerChain: nsChain })).rejects.toThrow(/may issue only subjects strictly inside it/)
    await expect(issueCredentialChain(generateKey(`${PREFIX}other/`), { subject: `${PREFIX}other/x`, subjectKey: actor, issuerChain: nsChain })).rejects.toThrow(/issuer chain is for/)
    const id = generateKey(`${PREFIX}agent/a`)
    const idChain = await issueCredentialChain(issuer, { subject: id.name, subjectKey: id })
    await expect(issueCredentialChain(id, { subject: `${PREFIX}agent/a/sub`, subjectKey: actor, issuerChain: idChain })).rejects.toThrow(/is an identity/)
    await expect(issueCredentialChain(generateKey('w.example', 'witness'), { subject: actor.name, subjectKey: actor })).rejects.toThrow(RangeError)
    await expect(issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor, notBefore: 10, notAfter: 5 })).rejects.toThrow(RangeError)
  })

  it('refuses credential text holding no credential', () => {
    expect(() => loadCredentials('# only a comment\n\n')).toThrow(RangeError)
  })
})

describe('signAction', () => {
  it('returns exactly the bytes core builds for the same statement', async () => {
    const actor = generateKey(`${PREFIX}agent/payments`)
    const chain = await issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor })
    const nonce = fromHex('00112233445566778899aabbccddeeff')
    const entry = await signAction(actor, chain, ACTION, { now: 1_767_225_600_000, nonce })
    const want = await buildStatement(
      {
        actor: actor.name,
        action: ACTION.action,
        target: ACTION.target,
        params: sha256(utf8('{"amount":1200}')),
        tool: ACTION.tool,
        policy: { id: 'payments-limit', version: '7', decision: 'allow', ref: fromHex('abcd') },
        delegation: [{ principal: 'user:alice@acme.example', scope: 'payments:transfer', grant: new Uint8Array([9]) }],
        approval: { by: 'user:bob@acme.example', ref: 'CHG-1' },
        time: 1_767_225_600_000,
        nonce,
      },
      { seed: actor.seed, credentials: chain },
    )
    expect(toHex(entry)).toBe(toHex(want))
  })

  it('takes params as hex, and draws a fresh nonce each time', async () => {
    const actor = generateKey(`${PREFIX}agent/payments`)
    const chain = await issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor })
    const a = { ...ACTION, params: toHex(requestDigest(new Uint8Array([1, 2]))) }
    const s1 = parseStatement(await signAction(actor, chain, a, { now: 5 }))
    const s2 = parseStatement(await signAction(actor, chain, a, { now: 5 }))
    expect(toHex(s1.statement.params)).toBe(a.params)
    expect(s1.statement.nonce).not.toEqual(s2.statement.nonce)
  })

  it('refuses a chain for another actor and params that are not a SHA-256', async () => {
    const actor = generateKey(`${PREFIX}agent/payments`)
    const chain = await issueCredentialChain(issuer, { subject: `${PREFIX}agent/other`, subjectKey: actor })
    await expect(signAction(actor, chain, ACTION)).rejects.toThrow(/chain is for spiffe:\/\/fixture.example\/agent\/other, but the key is/)
    const own = await issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor })
    await expect(signAction(actor, own, { ...ACTION, params: 'ABCD' })).rejects.toThrow(TypeError)
    await expect(signAction(actor, own, { ...ACTION, params: new Uint8Array(31) })).rejects.toThrow('params must be 32 bytes')
  })
})
