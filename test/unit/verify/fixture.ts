/**
 * Builds real actlog proofs in memory, with core only: statements signed by
 * agents whose credentials a trusted issuer signed, an RFC 6962 tree over
 * them (the reference implementation in test/helpers, independent of core),
 * a checkpoint signed by the log key and cosigned by three witnesses, and
 * `.tlog-proof` files with the entry as `extra`. Shared by the unit tests
 * and the browser test.
 */
import {
  buildStatement,
  computeKeyId,
  cosignatureSigner,
  ed25519Signer,
  encodeCheckpoint,
  encodeNote,
  encodeTlogProof,
  encodeVerifierKey,
  fromHex,
  inclusionProof,
  issueCredential,
  leafHash,
  parseNote,
  publicKeyFromSeed,
  sha256,
  signNote,
  u64be,
  utf8,
  SIG_TYPE_MLDSA44,
  type ActionStatement,
  type Credential,
  type NoteSignature,
  type NoteSigner,
} from '../../../src/core/index.ts'
import { RefTree } from '../../helpers/reference-merkle.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

/** The verifier's clock in every test: 2027-01-15T08:00:00Z, in ms. */
export const NOW = Date.UTC(2027, 0, 15, 8, 0, 0)
/** NOW in seconds, the unit of cosignature timestamps. */
export const NOW_S = NOW / 1000

export const ORIGIN = 'log.actlog.test/verify'

const seed = (label: string): Uint8Array => sha256(utf8(`actlog verify test ${label}`))

/** The log's key. */
export const LOG = { name: ORIGIN, seed: seed('log'), vkey: encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(seed('log'))) }

/** A witness of the test policy: its policy name, key name and seed. */
export interface TestWitness {
  name: string
  keyName: string
  seed: Uint8Array
  vkey: string
}

function witness(n: number): TestWitness {
  const keyName = `w${n}.witness.test`
  const s = seed(`witness ${n}`)
  return { name: `W${n}`, keyName, seed: s, vkey: encodeVerifierKey(keyName, 4, publicKeyFromSeed(s)) }
}

/** Three witnesses; W4 is one the log never asks. */
export const WITNESSES = [witness(1), witness(2), witness(3)] as const
export const ABSENT_WITNESS = witness(4)

/** Default cosignature times (seconds): three different times before NOW. */
export const COSIGN_TIMES = [NOW_S - 300, NOW_S - 120, NOW_S - 200] as const

/** Returns a policy text: the log, witnesses W1..W3 (and more lines), a 2-of-3 group G, quorum G unless given. */
export function policyText(opts: { log?: string; quorum?: string; extraLines?: string[]; group?: string } = {}): string {
  return [
    `log ${opts.log ?? LOG.vkey}`,
    ...WITNESSES.map((w) => `witness ${w.name} ${w.vkey}`),
    ...(opts.extraLines ?? []),
    opts.group ?? 'group G 2 W1 W2 W3',
    `quorum ${opts.quorum ?? 'G'}`,
    '',
  ].join('\n')
}

/** The shared vectors (read in place from ../shared/vectors), whose issuer, intermediate and agent keys the fixture reuses. */
export const SHARED = loadSharedStatementVectors()

/** The trusted issuers text: the shared vectors' issuer, for spiffe://acme.example/. */
export const ISSUERS_TEXT: string = SHARED.issuers_file

const ISSUER = { name: SHARED.keys.issuer.name as string, seed: fromHex(SHARED.keys.issuer.seed_hex) }
const INTERMEDIATE = { name: SHARED.keys.intermediate.name as string, seed: fromHex(SHARED.keys.intermediate.seed_hex) }
const AGENT = { name: SHARED.keys.agent.name as string, seed: fromHex(SHARED.keys.agent.seed_hex) }
const AGENT2 = { name: 'spiffe://acme.example/agent/deployer', seed: seed('agent 2') }

const WINDOW = { notBefore: NOW - 30 * 86_400_000, notAfter: NOW + 30 * 86_400_000 }

/** Returns the credential chain of the shared agent: issued directly by the trusted issuer. */
export async function agentChain(over: Partial<Credential> = {}): Promise<Credential[]> {
  return [
    await issueCredential({ issuer: ISSUER.name, subject: AGENT.name, subjectKey: publicKeyFromSeed(AGENT.seed), ...WINDOW, ...over }, ISSUER.seed),
  ]
}

/** Returns the chain of the second agent: through the namespace spiffe://acme.example/agent/, then the issuer. */
export async function agent2Chain(): Promise<Credential[]> {
  return [
    await issueCredential({ issuer: INTERMEDIATE.name, subject: AGENT2.name, subjectKey: publicKeyFromSeed(AGENT2.seed), ...WINDOW }, INTERMEDIATE.seed),
    await issueCredential({ issuer: ISSUER.name, subject: INTERMEDIATE.name, subjectKey: publicKeyFromSeed(INTERMEDIATE.seed), ...WINDOW }, ISSUER.seed),
  ]
}

/** Returns the i-th sample statement of an agent (fields vary with i). */
export function sampleStatement(i: number, actor = AGENT.name): ActionStatement {
  const s: ActionStatement = {
    actor,
    action: i % 2 === 0 ? 'payments.transfer' : 'payments.refund',
    target: `acct:DE8937040044053201300${i % 10}`,
    params: sha256(utf8(`request ${i}`)),
    tool: 'mcp://tools.acme.example/payments@1.4.2',
    policy: { id: 'payments-limits', version: '7', decision: 'allow' },
    time: NOW - 3_600_000 + i * 1000,
    nonce: sha256(utf8(`nonce ${i}`)).slice(0, 16),
  }
  if (i % 3 === 0) {
    s.delegation = [
      { principal: 'user:alice@acme.example', scope: 'payments:write', grant: utf8(`grant ${i}`) },
      { principal: 'svc:orchestrator', scope: 'payments:transfer' },
    ]
    s.policy.ref = utf8('opa://bundles/payments@sha256:ab12')
  }
  if (i % 4 === 1) s.approval = { by: 'user:bob@acme.example', ref: `ticket://CHG-${1000 + i}` }
  return s
}

/** Returns `n` real signed entries, alternating between the two agents (one- and two-credential chains). */
export async function sampleEntries(n: number): Promise<Uint8Array[]> {
  const c1 = await agentChain()
  const c2 = await agent2Chain()
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    out.push(
      i % 2 === 0
        ? await buildStatement(sampleStatement(i), { seed: AGENT.seed, credentials: c1 })
        : await buildStatement(sampleStatement(i, AGENT2.name), { seed: AGENT2.seed, credentials: c2 }),
    )
  }
  return out
}

/** The two agents: the shared vectors' agent (chain of one) and a second one (chain through the intermediate). */
export const AGENTS = { one: AGENT, two: AGENT2 } as const

/** Signs statement fields with an agent's key and the given chain (for forged or broken chains). */
export async function signAs(agent: keyof typeof AGENTS, s: ActionStatement, credentials: Credential[]): Promise<Uint8Array> {
  return buildStatement(s, { seed: AGENTS[agent].seed, credentials })
}

/** An issuer nobody trusts, with the trusted issuer's name (a forged root). */
export const ROGUE_ISSUER = { name: ISSUER.name, seed: seed('rogue issuer') }

/** Returns cosignature/v1 signers for the witnesses at the given times (seconds). */
export function cosigners(times: readonly number[] = COSIGN_TIMES, witnesses: readonly TestWitness[] = WITNESSES): NoteSigner[] {
  return witnesses.map((w, i) => cosignatureSigner(w.keyName, w.seed, () => times[i]!))
}

/** Returns a signature line shaped like an ML-DSA-44 cosignature (type 0x06 key ID, 8-byte time and 2420-byte signature). */
export function mlDsaLine(name: string): NoteSignature {
  const fakeKey = sha256(utf8(`ml-dsa key of ${name}`))
  const sig = new Uint8Array(8 + 2420).fill(0x5a)
  sig.set(u64be(NOW_S - 60), 0)
  return { name, keyId: computeKeyId(name, SIG_TYPE_MLDSA44, fakeKey), signature: sig }
}

/** A log over fixed entries, with its cosigned checkpoint. */
export interface TestLog {
  entries: Uint8Array[]
  tree: RefTree
  /** The checkpoint body (note text). */
  text: string
  /** The note: log signature and the cosignatures. */
  note: string
  /** Returns the `.tlog-proof` of entry `index` against `note` (default: this log's note). */
  proof(index: number, note?: string): Promise<string>
}

/** Options of buildLog. */
export interface BuildLogOptions {
  /** Cosignature signers (default: W1..W3 at COSIGN_TIMES). */
  cosigners?: NoteSigner[]
  /** Signature lines added after the others. */
  extraLines?: NoteSignature[]
  /** The log signer (default: the test log key). */
  log?: NoteSigner
  origin?: string
}

/** Returns a log holding `entries`, with a checkpoint signed by the log and cosigned. */
export async function buildLog(entries: Uint8Array[], opts: BuildLogOptions = {}): Promise<TestLog> {
  const tree = new RefTree(entries.map((e) => leafHash(e)))
  const text = encodeCheckpoint({ origin: opts.origin ?? ORIGIN, treeSize: entries.length, rootHash: tree.mth(0, entries.length), extensions: [] })
  const signed = await signNote(text, [opts.log ?? ed25519Signer(LOG.name, LOG.seed), ...(opts.cosigners ?? cosigners())])
  const parsed = parseNote(signed)
  const note = encodeNote({ text: parsed.text, signatures: [...parsed.signatures, ...(opts.extraLines ?? [])] })
  return {
    entries,
    tree,
    text,
    note,
    async proof(index, n = note) {
      const proof = await inclusionProof(index, entries.length, tree.reader())
      return encodeTlogProof({ extra: entries[index]!, index, proof, checkpoint: n })
    },
  }
}

/** Returns `note` with its signature lines replaced by `f(lines)`. */
export function editSignatures(note: string, f: (sigs: NoteSignature[]) => NoteSignature[]): string {
  const n = parseNote(note)
  return encodeNote({ text: n.text, signatures: f(n.signatures) })
}

/** Returns a copy of `b` with byte `i` XORed with `mask`. */
export function flip(b: Uint8Array, i: number, mask = 0x01): Uint8Array {
  const c = b.slice()
  c[i]! ^= mask
  return c
}

/** Returns the offset of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

/** A shared statement vector: valid ones have no wantError. */
export interface SharedVector {
  name: string
  entry_hex: string
  wantError?: string
  leaf_hash_hex?: string
  want?: { actor: string }
}

/** Every shared statement vector, valid ones first. */
export const SHARED_VECTORS: SharedVector[] = [...SHARED.valid, ...SHARED.invalid]

/**
 * Returns the verdict a shared vector wants once logged and wrapped in a
 * proof: `ok`, or the reason code its core error maps to. BAD_SIGNATURE
 * splits by which signature the vector breaks (its name says).
 */
export function wantedVerdict(v: SharedVector): string {
  switch (v.wantError) {
    case undefined:
      return 'ok'
    case 'MALFORMED':
      return 'MALFORMED_STATEMENT'
    case 'UNTRUSTED':
      return 'UNTRUSTED_CREDENTIAL'
    case 'BAD_SIGNATURE':
      return /credential/.test(v.name) ? 'BAD_CREDENTIAL_SIGNATURE' : 'BAD_STATEMENT_SIGNATURE'
    default:
      throw new Error(`vector ${v.name}: unexpected wantError ${v.wantError}`)
  }
}
