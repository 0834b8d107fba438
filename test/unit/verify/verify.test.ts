import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { checkLogEntry, parseEntry, parseTrustedIssuers, RevocationState } from '../../../src/core/index.ts'
import {
  cosignatureSigner,
  ed25519Signer,
  encodeNote,
  encodeTlogProof,
  encodeVerifierKey,
  fromHex,
  issueCredential,
  leafHash,
  parseNote,
  parseStatement,
  parseTlogProof,
  publicKeyFromSeed,
  sha256,
  toBase64,
  toHex,
  utf8,
  type NoteSignature,
} from '../../../src/core/index.ts'
import {
  REASONS,
  REASON_CODES,
  createVerifyCache,
  isReasonCode,
  parsePolicy,
  verifyActionProof,
  type ActionVerdict,
  type VerifyActionProofOptions,
} from '../../../src/verify/index.ts'
import {
  ABSENT_WITNESS,
  AGENTS,
  COSIGN_TIMES,
  ISSUERS_TEXT,
  LOG,
  NOW,
  NOW_S,
  ORIGIN,
  ROGUE_ISSUER,
  SHARED,
  SHARED_VECTORS,
  WITNESSES,
  agent2Chain,
  agentChain,
  buildLog,
  cosigners,
  editSignatures,
  flip,
  indexOfBytes,
  mlDsaLine,
  policyText,
  sampleEntries,
  sampleStatement,
  signAs,
  wantedVerdict,
  type TestLog,
} from './fixture.ts'

const POLICY = policyText()
const base = { policy: POLICY, issuers: ISSUERS_TEXT, now: NOW }
const MESSAGE_PREFIX = /^(proof file|checkpoint|log signature|witness quorum|inclusion|statement|statement signature|credential chain): \S/

function verify(proof: string | Uint8Array, over: Partial<VerifyActionProofOptions> = {}): Promise<ActionVerdict> {
  return verifyActionProof(proof, { ...base, ...over })
}

/** Asserts a refusal with `reason` and a message naming the check; returns the verdict. */
async function refused(proof: string | Uint8Array, reason: string, over: Partial<VerifyActionProofOptions> = {}): Promise<ActionVerdict> {
  const v = await verify(proof, over)
  expect(v.ok, JSON.stringify(v)).toBe(false)
  if (!v.ok) {
    expect(v.reason, v.message).toBe(reason)
    expect(v.message).toMatch(MESSAGE_PREFIX)
    expect(v.message).not.toMatch(/internal error/)
  }
  return v
}

async function accepted(proof: string | Uint8Array, over: Partial<VerifyActionProofOptions> = {}): Promise<ActionVerdict & { ok: true }> {
  const v = await verify(proof, over)
  expect(v.ok, v.ok ? '' : `${v.reason}: ${v.message}`).toBe(true)
  return v as ActionVerdict & { ok: true }
}

/** Returns the proof with its parts changed. */
function editProof(proof: string, f: (p: ReturnType<typeof parseTlogProof>) => void): string {
  const p = parseTlogProof(proof)
  f(p)
  return encodeTlogProof(p)
}

function witnessLine(n: number): (s: NoteSignature) => boolean {
  return (s) => s.name === WITNESSES[n]!.keyName
}

let entries: Uint8Array[]
let log: TestLog
let proofs: string[]

beforeAll(async () => {
  entries = await sampleEntries(7)
  log = await buildLog(entries)
  proofs = await Promise.all(entries.map((_, i) => log.proof(i)))
})

describe('reason codes', () => {
  it('lists the stable codes once, in the order the checks run, each with a description', () => {
    expect(REASON_CODES).toEqual([
      'MALFORMED_PROOF',
      'MALFORMED_CHECKPOINT',
      'UNKNOWN_LOG',
      'BAD_LOG_SIGNATURE',
      'BAD_COSIGNATURE',
      'FUTURE_COSIGNATURE',
      'QUORUM_NOT_MET',
      'BAD_INCLUSION',
      'MALFORMED_STATEMENT',
      'BAD_STATEMENT_SIGNATURE',
      'UNTRUSTED_CREDENTIAL',
      'BAD_CREDENTIAL_SIGNATURE',
      'REVOKED',
      'INCONSISTENT',
    ])
    for (const c of REASON_CODES) {
      expect(isReasonCode(c)).toBe(true)
      expect(REASONS[c].length).toBeGreaterThan(20)
    }
    expect(isReasonCode('toString')).toBe(false)
    expect(isReasonCode('MALFORMED')).toBe(false)
  })

  it('documents every code in the Markdown table of reasons.ts, in the same order', () => {
    const src = readFileSync(fileURLToPath(new URL('../../../src/verify/reasons.ts', import.meta.url)), 'utf8')
    const rows = [...src.matchAll(/^ \* \| `([A-Z_]+)` \| (.+) \|$/gm)].map((m) => m[1])
    expect(rows).toEqual([...REASON_CODES])
  })
})

describe('a valid proof', () => {
  it('verifies every entry of the log and reports what the proof establishes', async () => {
    for (let i = 0; i < entries.length; i++) {
      const v = await accepted(proofs[i]!)
      const s = parseStatement(entries[i]!).statement
      expect(v.index).toBe(i)
      expect(v.leafHash).toBe(toHex(leafHash(entries[i]!)))
      expect(v.checkpoint).toEqual({ origin: ORIGIN, treeSize: 7, rootHash: toBase64(log.tree.mth(0, 7)) })
      expect(v.log).toBe(ORIGIN)
      expect(v.statement.actor).toBe(s.actor)
      expect(v.statement.action).toBe(s.action)
      expect(v.statement.target).toBe(s.target)
      expect(v.statement.tool).toBe(s.tool)
      expect(v.statement.params).toBe(toHex(s.params))
      expect(v.statement.time).toBe(s.time)
      expect(v.statement.policy.decision).toBe('allow')
      expect(v.lineage.org).toBe('acme')
      expect(v.lineage.issuer).toBe(SHARED.keys.issuer.name)
      expect(v.lineage.links.length).toBe(i % 2 === 0 ? 1 : 2)
    }
  })

  it('decodes delegation, approval and policy ref, and is plain JSON', async () => {
    const v0 = await accepted(proofs[0]!)
    expect(v0.statement.delegation).toEqual([
      { principal: 'user:alice@acme.example', scope: 'payments:write', grant: toHex(utf8('grant 0')) },
      { principal: 'svc:orchestrator', scope: 'payments:transfer' },
    ])
    expect(v0.statement.policy).toEqual({ id: 'payments-limits', version: '7', decision: 'allow', ref: toHex(utf8('opa://bundles/payments@sha256:ab12')) })
    expect(v0.statement.approval).toBeUndefined()
    const v1 = await accepted(proofs[1]!)
    expect(v1.statement.delegation).toEqual([])
    expect(v1.statement.approval).toEqual({ by: 'user:bob@acme.example', ref: 'ticket://CHG-1001' })
    expect(v1.statement.actorKey).toBe(toHex(publicKeyFromSeed(AGENTS.two.seed)))
    expect(JSON.parse(JSON.stringify(v1))).toEqual(v1)
  })

  it('lists the witnesses earliest first and reports the earliest quorum time (2 of 3)', async () => {
    const v = await accepted(proofs[2]!)
    expect(v.witnesses).toEqual([
      { name: 'W1', timestamp: COSIGN_TIMES[0] },
      { name: 'W3', timestamp: COSIGN_TIMES[2] },
      { name: 'W2', timestamp: COSIGN_TIMES[1] },
    ])
    // W1 at -300 s alone is not 2 of 3; with W3 at -200 s it is.
    expect(v.loggedBy).toBe(NOW_S - 200)
  })

  it('accepts the proof as bytes as well as text', async () => {
    await accepted(utf8(proofs[4]!))
  })

  it('uses the parsed policy and issuers as well as their texts', async () => {
    await accepted(proofs[5]!, { policy: parsePolicy(POLICY) })
  })
})

describe('tamper matrix: the proof file altered in transit', () => {
  it('refuses a flipped byte in the statement payload with BAD_INCLUSION', async () => {
    const i = indexOfBytes(entries[0]!, utf8('payments.transfer'))
    expect(i).toBeGreaterThan(0)
    await refused(editProof(proofs[0]!, (p) => (p.extra = flip(p.extra!, i, 0x20))), 'BAD_INCLUSION')
  })

  it('refuses a flipped byte in the statement signature with BAD_INCLUSION', async () => {
    await refused(editProof(proofs[0]!, (p) => (p.extra = flip(p.extra!, p.extra!.length - 1))), 'BAD_INCLUSION')
  })

  it('refuses a flipped byte in a credential with BAD_INCLUSION', async () => {
    const cred = parseStatement(entries[1]!).credentials[1]!.signature
    const at = indexOfBytes(entries[1]!, cred)
    await refused(editProof(proofs[1]!, (p) => (p.extra = flip(p.extra!, at + 5))), 'BAD_INCLUSION')
  })

  it('refuses a changed index with BAD_INCLUSION, including one beyond the tree', async () => {
    for (const index of [2, 4, 6, 7, 8, 1000]) {
      const v = await refused(editProof(proofs[3]!, (p) => (p.index = index)), 'BAD_INCLUSION')
      expect(v.ok === false && v.checkpoint?.treeSize).toBe(7)
      expect(v.ok === false && v.index).toBeUndefined()
    }
    // The same edit made to the text: index 3 -> 5.
    await refused(proofs[3]!.replace('\nindex 3\n', '\nindex 5\n'), 'BAD_INCLUSION')
  })

  it('refuses each proof hash flipped, one dropped, one added, with BAD_INCLUSION', async () => {
    const p = parseTlogProof(proofs[5]!)
    expect(p.proof.length).toBe(3)
    for (let h = 0; h < p.proof.length; h++) {
      for (const byte of [0, 17, 31]) {
        await refused(editProof(proofs[5]!, (q) => (q.proof[h] = flip(q.proof[h]!, byte))), 'BAD_INCLUSION')
      }
      await refused(editProof(proofs[5]!, (q) => q.proof.splice(h, 1)), 'BAD_INCLUSION')
    }
    await refused(editProof(proofs[5]!, (q) => q.proof.push(sha256(utf8('x')))), 'BAD_INCLUSION')
    await refused(editProof(proofs[5]!, (q) => (q.proof = [])), 'BAD_INCLUSION')
  })

  it('refuses an edited checkpoint body with BAD_LOG_SIGNATURE (UNKNOWN_LOG for another origin)', async () => {
    const n = parseNote(log.note)
    const lines = n.text.split('\n')
    const withText = (text: string): string => editProof(proofs[0]!, (p) => (p.checkpoint = encodeNote({ text, signatures: n.signatures })))
    await refused(withText(n.text.replace('\n7\n', '\n8\n')), 'BAD_LOG_SIGNATURE')
    await refused(withText(`${lines[0]}\n${lines[1]}\n${toBase64(sha256(utf8('other root')))}\n`), 'BAD_LOG_SIGNATURE')
    await refused(withText(`${n.text}extension line\n`), 'BAD_LOG_SIGNATURE')
    await refused(withText(n.text.replace(ORIGIN, `${ORIGIN}x`)), 'UNKNOWN_LOG')
  })

  it('refuses every single-bit flip of the checkpoint body with a checkpoint reason, never ok', async () => {
    const bytes = utf8(proofs[6]!)
    const start = indexOfBytes(bytes, utf8(`\n\n${ORIGIN}\n`)) + 2
    const end = indexOfBytes(bytes, utf8('\n\n\u2014 ')) + 1
    expect(end - start).toBeGreaterThan(60)
    const seen = new Set<string>()
    for (let i = start; i < end; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const v = await verify(flip(bytes, i, 1 << bit))
        expect(v.ok, `byte ${i} bit ${bit}`).toBe(false)
        if (!v.ok) {
          expect(['MALFORMED_PROOF', 'MALFORMED_CHECKPOINT', 'UNKNOWN_LOG', 'BAD_LOG_SIGNATURE']).toContain(v.reason)
          seen.add(v.reason)
        }
      }
    }
    expect(seen).toContain('BAD_LOG_SIGNATURE')
  })

  it('refuses a flipped byte in the log signature with BAD_LOG_SIGNATURE (UNKNOWN_LOG when the key ID changes)', async () => {
    for (const byte of [0, 31, 32, 63]) {
      const note = editSignatures(log.note, (sigs) => sigs.map((s) => (s.name === ORIGIN ? { ...s, signature: flip(s.signature, byte) } : s)))
      await refused(await log.proof(2, note), 'BAD_LOG_SIGNATURE')
    }
    const otherId = editSignatures(log.note, (sigs) => sigs.map((s) => (s.name === ORIGIN ? { ...s, keyId: (s.keyId ^ 1) >>> 0 } : s)))
    await refused(await log.proof(2, otherId), 'UNKNOWN_LOG')
    const unsigned = editSignatures(log.note, (sigs) => sigs.filter((s) => s.name !== ORIGIN))
    await refused(await log.proof(2, unsigned), 'UNKNOWN_LOG')
  })

  it('refuses a flipped byte in each cosignature (signature or timestamp) with BAD_COSIGNATURE', async () => {
    for (let w = 0; w < 3; w++) {
      for (const byte of [0, 7, 8, 40, 71]) {
        const note = editSignatures(log.note, (sigs) => sigs.map((s) => (witnessLine(w)(s) ? { ...s, signature: flip(s.signature, byte) } : s)))
        const v = await refused(await log.proof(1, note), 'BAD_COSIGNATURE')
        expect(v.ok === false && v.message).toContain(`witness W${w + 1}`)
        // The log signature had verified: the refusal says nothing about the checkpoint.
        expect(v.ok === false && v.checkpoint).toBeUndefined()
      }
    }
  })

  it('ignores a cosignature whose key ID was changed (an unknown key), so the quorum decides', async () => {
    const note = editSignatures(log.note, (sigs) => sigs.map((s) => (witnessLine(0)(s) ? { ...s, keyId: (s.keyId ^ 0x100) >>> 0 } : s)))
    const v = await accepted(await log.proof(1, note))
    expect(v.witnesses.map((w) => w.name)).toEqual(['W3', 'W2'])
    expect(v.loggedBy).toBe(COSIGN_TIMES[1])
    await refused(await log.proof(1, note), 'QUORUM_NOT_MET', { policy: policyText({ group: 'group G all W1 W2 W3' }) })
  })
})

describe('tamper matrix: a misbehaving log that logged a forged entry', () => {
  // The altered entry is really in the tree, so inclusion verifies and the
  // statement checks are what must catch it.
  async function loggedAt(entry: Uint8Array): Promise<string> {
    const l = await buildLog([...entries.slice(0, 4), entry, ...entries.slice(4)])
    return l.proof(4)
  }

  it('refuses a payload byte flipped after signing with BAD_STATEMENT_SIGNATURE', async () => {
    const e = entries[2]!
    const v = await refused(await loggedAt(flip(e, indexOfBytes(e, utf8('payments.transfer')), 0x20)), 'BAD_STATEMENT_SIGNATURE')
    // Inclusion verified, so the verdict reports what the log holds there.
    expect(v.ok === false && v.statement?.action).toBe('Payments.transfer')
    expect(v.ok === false && v.index).toBe(4)
    expect(v.ok === false && v.loggedBy).toBe(NOW_S - 200)
  })

  it('refuses a flipped statement signature with BAD_STATEMENT_SIGNATURE', async () => {
    await refused(await loggedAt(flip(entries[2]!, entries[2]!.length - 10)), 'BAD_STATEMENT_SIGNATURE')
  })

  it('refuses a credential byte flipped after the actor signed with BAD_STATEMENT_SIGNATURE (the header is signed)', async () => {
    const e = entries[3]!
    const at = indexOfBytes(e, parseStatement(e).credentials[0]!.signature)
    await refused(await loggedAt(flip(e, at + 3)), 'BAD_STATEMENT_SIGNATURE')
  })

  it('refuses a forged credential signature the actor signed over with BAD_CREDENTIAL_SIGNATURE', async () => {
    const [c] = await agentChain()
    const forged = { ...c!, signature: flip(c!.signature, 9) }
    await refused(await loggedAt(await signAs('one', sampleStatement(20), [forged])), 'BAD_CREDENTIAL_SIGNATURE')
    const [c1, c2] = await agent2Chain()
    const s2 = sampleStatement(21, AGENTS.two.name)
    await refused(await loggedAt(await signAs('two', s2, [{ ...c1!, signature: flip(c1!.signature, 0) }, c2!])), 'BAD_CREDENTIAL_SIGNATURE')
    await refused(await loggedAt(await signAs('two', s2, [c1!, { ...c2!, signature: flip(c2!.signature, 63) }])), 'BAD_CREDENTIAL_SIGNATURE')
  })

  it('refuses a root credential signed by a key the issuers file does not list with BAD_CREDENTIAL_SIGNATURE', async () => {
    const [c] = await agentChain()
    const { signature: _, ...fields } = c!
    const rogue = await issueCredential(fields, ROGUE_ISSUER.seed)
    await refused(await loggedAt(await signAs('one', sampleStatement(22), [rogue])), 'BAD_CREDENTIAL_SIGNATURE')
  })

  it('refuses chains that do not tie the actor to a trusted issuer with UNTRUSTED_CREDENTIAL', async () => {
    const s = sampleStatement(24)
    const cases = [
      await agentChain({ subject: 'spiffe://acme.example/agent/other' }),
      await agentChain({ notAfter: s.time - 1 }),
      await agentChain({ notBefore: s.time + 1 }),
      await agentChain({ subjectKey: publicKeyFromSeed(AGENTS.two.seed) }),
    ]
    for (const chain of cases) await refused(await loggedAt(await signAs('one', s, chain)), 'UNTRUSTED_CREDENTIAL')
    const untrustedName = await issueCredential(
      { issuer: 'issuer.other.example', subject: s.actor, subjectKey: publicKeyFromSeed(AGENTS.one.seed), notBefore: 0, notAfter: 2 ** 50 },
      ROGUE_ISSUER.seed,
    )
    await refused(await loggedAt(await signAs('one', s, [untrustedName])), 'UNTRUSTED_CREDENTIAL')
    // An actor outside the issuer's subject prefix (spiffe://acme.example/).
    const outside = { ...s, actor: 'spiffe://acme.example.evil/agent' }
    await refused(await loggedAt(await signAs('one', outside, await agentChain({ subject: outside.actor }))), 'UNTRUSTED_CREDENTIAL')
  })

  it('refuses an entry that is not an action statement with MALFORMED_STATEMENT', async () => {
    await refused(await loggedAt(utf8('not a statement')), 'MALFORMED_STATEMENT')
    await refused(await loggedAt(entries[0]!.slice(0, -1)), 'MALFORMED_STATEMENT')
    await refused(await loggedAt(new Uint8Array(17_000).fill(0xd2)), 'MALFORMED_STATEMENT')
  })

  it('refuses a proof with no extra line with MALFORMED_STATEMENT, after the checkpoint checks', async () => {
    const p = parseTlogProof(proofs[0]!)
    const v = await refused(encodeTlogProof({ index: p.index, proof: p.proof, checkpoint: p.checkpoint }), 'MALFORMED_STATEMENT')
    expect(v.ok === false && v.checkpoint?.treeSize).toBe(7)
    expect(v.ok === false && v.index).toBeUndefined()
  })
})

describe('policy: log key, witnesses, quorum', () => {
  it('refuses a policy whose log key is another key, or has another name, with UNKNOWN_LOG', async () => {
    const otherKey = encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(sha256(utf8('other log key'))))
    await refused(proofs[0]!, 'UNKNOWN_LOG', { policy: policyText({ log: otherKey }) })
    const otherName = encodeVerifierKey('other.log.test', 1, publicKeyFromSeed(LOG.seed))
    await refused(proofs[0]!, 'UNKNOWN_LOG', { policy: policyText({ log: otherName }) })
  })

  it("does not accept a checkpoint signed by another policy log's key", async () => {
    // Both logs are in the policy, but a key vouches only for its own origin.
    const other = { name: 'other.log.test', seed: sha256(utf8('other log')) }
    const l = await buildLog(entries, { log: ed25519Signer(other.name, other.seed) })
    const extra = `log ${encodeVerifierKey(other.name, 1, publicKeyFromSeed(other.seed))}`
    const v = await refused(await l.proof(0), 'UNKNOWN_LOG', { policy: `${extra}\n${POLICY}` })
    expect(v.ok === false && v.message).toContain('no signature')
  })

  it('refuses a quorum the verified cosignatures do not meet with QUORUM_NOT_MET', async () => {
    const withW4 = [`witness W4 ${ABSENT_WITNESS.vkey}`]
    await refused(proofs[0]!, 'QUORUM_NOT_MET', { policy: policyText({ extraLines: withW4, group: 'group G all W1 W4' }) })
    await refused(proofs[0]!, 'QUORUM_NOT_MET', { policy: policyText({ extraLines: withW4, group: 'group G any W2', quorum: 'W4' }) })
    const two = await buildLog(entries, { cosigners: cosigners([NOW_S - 10, NOW_S - 5], WITNESSES.slice(0, 2)) })
    await accepted(await two.proof(0))
    await refused(await two.proof(0), 'QUORUM_NOT_MET', { policy: policyText({ group: 'group G all W1 W2 W3' }) })
    const one = await buildLog(entries, { cosigners: cosigners([NOW_S - 10], WITNESSES.slice(2)) })
    const v = await refused(await one.proof(0), 'QUORUM_NOT_MET')
    expect(v.ok === false && v.message).toMatch(/from W3, which does not satisfy quorum "G"/)
    const none = await buildLog(entries, { cosigners: [] })
    await refused(await none.proof(0), 'QUORUM_NOT_MET')
  })

  it('nested groups: the quorum is evaluated per the tlog-policy tree', async () => {
    const policy = policyText({ group: 'group A any W1 W2\ngroup B all W3 A' })
    expect((await accepted(proofs[0]!, { policy: policy.replace('quorum G', 'quorum B') })).loggedBy).toBe(COSIGN_TIMES[2])
  })

  it('ignores ML-DSA-44 (0x06) lines, unknown keys and foreign key IDs, even with a witness name', async () => {
    const unknownCosigner = cosignatureSigner('w9.witness.test', sha256(utf8('w9')), () => NOW_S + 99_999)
    const l = await buildLog(entries, {
      cosigners: [...cosigners(), unknownCosigner],
      extraLines: [
        mlDsaLine(WITNESSES[0].keyName),
        mlDsaLine('pq.witness.test'),
        { name: WITNESSES[1].keyName, keyId: 0x01020304, signature: new Uint8Array(72) },
        { name: 'junk.example', keyId: 7, signature: new Uint8Array([1, 2, 3]) },
      ],
    })
    const v = await accepted(await l.proof(3))
    expect(v.witnesses.map((w) => w.name)).toEqual(['W1', 'W3', 'W2'])
    expect(v.loggedBy).toBe(NOW_S - 200)
  })

  it('counts a line repeated verbatim once, and a witness that cosigned twice at its earliest time', async () => {
    const twice = [...cosigners(), cosignatureSigner(WITNESSES[1].keyName, WITNESSES[1].seed, () => NOW_S - 1000)]
    const l = await buildLog(entries, { cosigners: twice })
    const dup = editSignatures(l.note, (sigs) => [...sigs, sigs[1]!])
    const v = await accepted(await l.proof(0, dup))
    expect(v.witnesses).toEqual([
      { name: 'W2', timestamp: NOW_S - 1000 },
      { name: 'W1', timestamp: COSIGN_TIMES[0] },
      { name: 'W3', timestamp: COSIGN_TIMES[2] },
    ])
    expect(v.loggedBy).toBe(COSIGN_TIMES[0])
  })

  it('computes the earliest quorum time for several quorums over three different timestamps', async () => {
    const times = [NOW_S - 50, NOW_S - 400, NOW_S - 250]
    const l = await buildLog(entries, { cosigners: cosigners(times) })
    const p = await l.proof(6)
    const at = async (group: string, quorum = 'G'): Promise<number | undefined> => (await accepted(p, { policy: policyText({ group, quorum }) })).loggedBy
    expect(await at('group G 2 W1 W2 W3')).toBe(NOW_S - 250)
    expect(await at('group G all W1 W2 W3')).toBe(NOW_S - 50)
    expect(await at('group G any W1 W2 W3')).toBe(NOW_S - 400)
    expect(await at('group G any W1 W3')).toBe(NOW_S - 250)
    expect(await at('group G 2 W1 W2 W3', 'W1')).toBe(NOW_S - 50)
  })

  it('quorum none: accepts a log-signed checkpoint with no cosignatures and reports no loggedBy', async () => {
    const none = await buildLog(entries, { cosigners: [] })
    const v = await accepted(await none.proof(2), { policy: `log ${LOG.vkey}\nquorum none\n` })
    expect(v.witnesses).toEqual([])
    expect(v.loggedBy).toBeUndefined()
    // Witnesses listed in the policy are still checked and reported.
    const w = await accepted(proofs[2]!, { policy: policyText({ quorum: 'none' }) })
    expect(w.witnesses.length).toBe(3)
    expect(w.loggedBy).toBeUndefined()
    const bad = editSignatures(log.note, (sigs) => sigs.map((s) => (witnessLine(2)(s) ? { ...s, signature: flip(s.signature, 30) } : s)))
    await refused(await log.proof(2, bad), 'BAD_COSIGNATURE', { policy: policyText({ quorum: 'none' }) })
  })
})

describe('cosignature time', () => {
  async function cosignedAt(times: number[]): Promise<string> {
    return (await buildLog(entries, { cosigners: cosigners(times) })).proof(0)
  }

  it('refuses a policy witness cosignature more than 10 minutes after now with FUTURE_COSIGNATURE', async () => {
    const v = await refused(await cosignedAt([NOW_S - 300, NOW_S + 601, NOW_S - 200]), 'FUTURE_COSIGNATURE')
    expect(v.ok === false && v.message).toContain('witness W2')
    // Even from a witness the quorum does not need.
    await refused(await cosignedAt([NOW_S - 300, NOW_S - 200, NOW_S + 3600]), 'FUTURE_COSIGNATURE')
    // A timestamp beyond 2^53 seconds (read as Infinity by core).
    await refused(await cosignedAt([NOW_S - 300, NOW_S - 200, Number.MAX_SAFE_INTEGER]), 'FUTURE_COSIGNATURE')
  })

  it('accepts cosignatures 9 minutes ahead, and exactly 10 minutes ahead', async () => {
    expect((await accepted(await cosignedAt([NOW_S + 540, NOW_S + 540, NOW_S - 1]))).loggedBy).toBe(NOW_S + 540)
    await accepted(await cosignedAt([NOW_S + 600, NOW_S - 5, NOW_S - 6]))
  })

  it('judges time against the `now` given, in milliseconds', async () => {
    const p = await cosignedAt([NOW_S, NOW_S, NOW_S])
    await accepted(p, { now: NOW - 600_000 })
    await refused(p, 'FUTURE_COSIGNATURE', { now: NOW - 600_001 })
  })

  it('ignores the time of a cosignature by a key outside the policy', async () => {
    const l = await buildLog(entries, { cosigners: [...cosigners(), cosignatureSigner('w9.witness.test', sha256(utf8('w9')), () => NOW_S + 86_400)] })
    await accepted(await l.proof(0))
  })
})

describe('misuse and malformed input', () => {
  it('throws TypeError on misuse, never on the proof', async () => {
    await expect(verifyActionProof(42 as never, base)).rejects.toThrow(TypeError)
    await expect(verifyActionProof(proofs[0]!, undefined as never)).rejects.toThrow(TypeError)
    await expect(verify(proofs[0]!, { policy: {} as never })).rejects.toThrow(TypeError)
    await expect(verify(proofs[0]!, { issuers: 7 as never })).rejects.toThrow(TypeError)
    await expect(verify(proofs[0]!, { now: Number.NaN })).rejects.toThrow(TypeError)
    await expect(verify(proofs[0]!, { cache: {} as never })).rejects.toThrow(TypeError)
  })

  it('throws the parser error for a malformed policy or issuers text (configuration)', async () => {
    await expect(verify(proofs[0]!, { policy: 'log nonsense\nquorum none\n' })).rejects.toMatchObject({ code: 'MALFORMED' })
    await expect(verify(proofs[0]!, { issuers: 'issuer x y z\n' })).rejects.toMatchObject({ code: 'MALFORMED' })
  })

  it('refuses malformed files with MALFORMED_PROOF and malformed notes with MALFORMED_CHECKPOINT', async () => {
    for (const bad of ['', 'hello', proofs[0]!.replace('@v1', '@v2'), proofs[0]!.replace('index 0', 'index 00'), 'x'.repeat(500_000), new Uint8Array([0xff, 0xfe])]) {
      await refused(bad, 'MALFORMED_PROOF')
    }
    const p = parseTlogProof(proofs[0]!)
    for (const note of ['garbage\n', `${ORIGIN}\n7\n\n\u2014 x AAAAAAA=\n`, log.note.replace('\n\n', '\n'), `${log.text.replace('\n7\n', '\n07\n')}\n${log.note.split('\n\n')[1]}`]) {
      await refused(encodeTlogProof({ ...p, checkpoint: note }), 'MALFORMED_CHECKPOINT')
    }
  })
})

describe('cache', () => {
  it('makes a batch from one log cost one checkpoint check and one check per credential', async () => {
    const cache = createVerifyCache()
    for (const p of proofs) await accepted(p, { cache })
    const s = cache.stats()
    expect(s.checkpointMisses).toBe(1)
    expect(s.checkpointHits).toBe(proofs.length - 1)
    // Agent one's chain has one credential, agent two's has two; the issuers
    // file holds two keys of the issuer name (a rotation), and the first
    // check of each last credential looks both up: five misses in all.
    expect(s.credentialMisses).toBe(5)
    expect(s.credentialHits).toBe(7)
    cache.clear()
    expect(cache.stats()).toEqual({ checkpointHits: 0, checkpointMisses: 0, credentialHits: 0, credentialMisses: 0, checkpoints: 0 })
  })

  it('checks a checkpoint once when many proofs against it are verified concurrently', async () => {
    const cache = createVerifyCache()
    const verdicts = await Promise.all([...proofs, ...proofs].map((p) => verify(p, { cache })))
    expect(verdicts.every((v) => v.ok)).toBe(true)
    expect(cache.stats()).toMatchObject({ checkpointMisses: 1, checkpointHits: 2 * proofs.length - 1, checkpoints: 1 })
    // A refusal shared by concurrent callers is still not cached.
    const bad = editSignatures(log.note, (sigs) => sigs.map((s) => (s.name === ORIGIN ? { ...s, signature: flip(s.signature, 9) } : s)))
    const badProof = await log.proof(0, bad)
    const refusals = await Promise.all([1, 2, 3].map(() => verify(badProof, { cache })))
    expect(refusals.map((v) => (v.ok ? 'ok' : v.reason))).toEqual(['BAD_LOG_SIGNATURE', 'BAD_LOG_SIGNATURE', 'BAD_LOG_SIGNATURE'])
    expect(cache.stats().checkpoints).toBe(1)
  })

  it('gives the verdicts of an uncached verifier, in any order, across policies', async () => {
    const bad = editSignatures(log.note, (sigs) => sigs.map((s) => (witnessLine(1)(s) ? { ...s, signature: flip(s.signature, 50) } : s)))
    const future = await (await buildLog(entries, { cosigners: cosigners([NOW_S, NOW_S + 700, NOW_S]) })).proof(1)
    const inputs = [...proofs, await log.proof(3, bad), future, proofs[2]!.replace('index 2', 'index 3'), 'junk']
    const otherW2 = policyText().replace(WITNESSES[1].vkey, encodeVerifierKey(WITNESSES[1].keyName, 4, publicKeyFromSeed(sha256(utf8('not w2')))))
    const policies = [POLICY, policyText({ group: 'group G all W1 W2 W3' }), otherW2, policyText({ quorum: 'W2' }), `log ${LOG.vkey}\nquorum none\n`, policyText({ log: encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(sha256(utf8('k')))) })]
    const nows = [NOW, NOW - 3_600_000]
    const cache = createVerifyCache()
    for (let round = 0; round < 2; round++) {
      for (const policy of policies) {
        for (const now of nows) {
          for (const p of inputs) {
            const plain = await verify(p, { policy, now })
            expect(await verify(p, { policy, now, cache })).toEqual(plain)
          }
        }
      }
    }
    expect(cache.stats().checkpointHits).toBeGreaterThan(100)
  })

  it('does not let a checkpoint verified under one policy satisfy a policy with other keys', async () => {
    const cache = createVerifyCache()
    await accepted(proofs[0]!, { cache })
    const otherLog = policyText({ log: encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(sha256(utf8('k2')))) })
    await refused(proofs[0]!, 'UNKNOWN_LOG', { cache, policy: otherLog })
    // Same keys, witnesses renamed: W1's cosignature now belongs to X1, which the quorum does not name.
    const renamed = POLICY.replace('witness W1 ', 'witness X1 ').replace('group G 2 W1 W2 W3', 'group G all W2 X1')
    expect((await accepted(proofs[0]!, { cache, policy: renamed })).witnesses.map((w) => w.name)).toEqual(['X1', 'W3', 'W2'])
    // W1 bound to another key: the cached W1 cosignature must not count for it.
    await refused(proofs[0]!, 'QUORUM_NOT_MET', { cache, policy: policyText({ quorum: 'W1' }).replace(WITNESSES[0].vkey, ABSENT_WITNESS.vkey) })
    // Each policy had other keys (or other names for them): every lookup missed.
    expect(cache.stats()).toMatchObject({ checkpointHits: 0, checkpointMisses: 4 })
  })

  it('re-evaluates time and quorum on a cache hit', async () => {
    const cache = createVerifyCache()
    await accepted(proofs[0]!, { cache })
    await refused(proofs[0]!, 'FUTURE_COSIGNATURE', { cache, now: NOW - 3_600_000 })
    await refused(proofs[0]!, 'QUORUM_NOT_MET', { cache, policy: policyText({ extraLines: [`witness W4 ${ABSENT_WITNESS.vkey}`], quorum: 'W4' }) })
    expect(cache.stats().checkpointHits).toBe(1)
  })

  it('never caches a refused checkpoint, and stays within its bound', async () => {
    const cache = createVerifyCache({ maxCheckpoints: 2 })
    const bad = editSignatures(log.note, (sigs) => sigs.map((s) => (s.name === ORIGIN ? { ...s, signature: flip(s.signature, 3) } : s)))
    await refused(await log.proof(0, bad), 'BAD_LOG_SIGNATURE', { cache })
    await refused(await log.proof(0, bad), 'BAD_LOG_SIGNATURE', { cache })
    expect(cache.stats().checkpoints).toBe(0)
    for (let n = 1; n <= 4; n++) {
      const l = await buildLog(entries.slice(0, n))
      await accepted(await l.proof(0), { cache })
      expect(cache.stats().checkpoints).toBe(Math.min(n, 2))
    }
    expect(() => createVerifyCache({ maxCheckpoints: 0 })).toThrow(RangeError)
  })
})

describe('the shared statement vectors, each logged and wrapped in a proof', () => {
  let shared: TestLog

  beforeAll(async () => {
    shared = await buildLog(SHARED_VECTORS.map((v) => fromHex(v.entry_hex)))
  })

  it('maps the core errors of the vectors onto four verdict codes', () => {
    const codes = new Set(SHARED_VECTORS.filter((v) => v.wantError !== undefined).map(wantedVerdict))
    expect([...codes].sort()).toEqual(['BAD_CREDENTIAL_SIGNATURE', 'BAD_STATEMENT_SIGNATURE', 'MALFORMED_STATEMENT', 'UNTRUSTED_CREDENTIAL'])
  })

  SHARED_VECTORS.forEach((v, i) => {
    const want = wantedVerdict(v)
    it(`${v.name}: ${want === 'ok' ? 'accepted' : `refused with ${want}`}`, async () => {
      const p = await shared.proof(i)
      if (want === 'ok') {
        const got = await accepted(p)
        expect(got.statement.actor).toBe(v.want!.actor)
        expect(got.leafHash).toBe(v.leaf_hash_hex)
      } else {
        await refused(p, want)
      }
    })
  })
})

describe('the shared log-order sequences, with the revocations an audit saw', () => {
  const issuers = parseTrustedIssuers(ISSUERS_TEXT)
  for (const seq of SHARED.sequences as { name: string; entries_hex: string[]; want: string[] }[]) {
    it(`${seq.name}: each statement's verdict given the revocations before it`, async () => {
      const entries = seq.entries_hex.map(fromHex)
      const l = await buildLog(entries)
      // The revocations that took effect, as an auditor of this log records them (core decides).
      const state = new RevocationState()
      for (const [i, e] of entries.entries()) {
        try {
          const got = await checkLogEntry(parseEntry(e), i, { issuers, revocations: state })
          if (got.kind === 'revocation') state.add(got.record)
        } catch {
          // Refused entries take no effect.
        }
      }
      const seen = { revocations: state.toJSON(), checkedTo: entries.length, checkpoint: l.note }
      for (const [i, e] of entries.entries()) {
        if (parseEntry(e).kind !== 'statement') continue
        const want = seq.want[i] === 'ok' ? 'ok' : seq.want[i] === 'REVOKED' ? 'REVOKED' : 'UNTRUSTED_CREDENTIAL'
        const v = await verify(await l.proof(i), { revocations: seen })
        expect(v.ok ? 'ok' : v.reason, `entry ${i}`).toBe(want)
        if (v.ok) {
          expect(v.revocations).toMatchObject({ checkedTo: entries.length, complete: true, checkpoint: l.note })
          // Without the audit's revocations, the proof alone cannot show a later revocation.
        } else {
          expect(v.message).toMatch(/revoked by log entry \d+/)
          expect((await verify(await l.proof(i))).ok).toBe(true)
        }
      }
    })
  }

  it('reports a statement logged before a revocation naming an earlier since as suspect, not revoked', async () => {
    const seq = (SHARED.sequences as { name: string; entries_hex: string[] }[]).find((s) => /since/.test(s.name))!
    const entries = seq.entries_hex.map(fromHex)
    const l = await buildLog(entries)
    const state = new RevocationState()
    const got = await checkLogEntry(parseEntry(entries[1]!), 1, { issuers, revocations: state })
    if (got.kind === 'revocation') state.add(got.record)
    const v = await accepted(await l.proof(0), { revocations: { revocations: state, checkedTo: 1 } })
    expect(v.revocations?.suspect.map((r) => r.index)).toEqual([1])
    // The state covers entries below 1 only: it cannot be complete for entry 2.
    const later = await verify(await l.proof(2), { revocations: { revocations: new RevocationState(), checkedTo: 1 } })
    expect(later.ok && later.revocations?.complete).toBe(false)
  })
})

describe('a proof of a revocation entry', () => {
  it('is refused as an action proof, saying it is a revocation and what it revokes', async () => {
    const rv = SHARED.revocations_valid[0] as { entry_hex: string; want: { subject: string } }
    const l = await buildLog([fromHex(rv.entry_hex)])
    const v = await refused(await l.proof(0), 'MALFORMED_STATEMENT')
    expect(!v.ok && v.message).toMatch(new RegExp(`revocation entry, not an action statement \\(it revokes ${rv.want.subject.replace(/[/.]/g, '\\$&')}`))
  })
})
