import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  SIG_TYPE_ED25519,
  buildRevocation,
  generateSeed,
  issueCredential,
  publicKeyFromSeed,
  sha256,
  toHex,
  utf8,
  type Credential,
  type SignerKey,
} from '../core/index.ts'
import { LogError, submitStatement, type AddReply } from './client.ts'
import { readKeyFile, writeCredentialFile, writeKeyFile } from './files.ts'
import { signAction, type ActionInput } from './statements.ts'

/** An agent of the demo organisation: its key, credential chain and the actions it takes. */
interface Agent {
  key: SignerKey
  chain: Credential[]
  act: (i: number) => ActionInput
}

/** Options of `actlog demo`. */
export interface DemoOptions {
  log: string
  issuerKey: string
  /** Subject prefix the log trusts the issuer for, e.g. spiffe://acme.example/ */
  prefix: string
  count: number
  out: string
  concurrency?: number
  waitWitnessed?: boolean
  onProgress?: (done: number, total: number) => void
}

/** What a demo run did. */
export interface DemoResult {
  submitted: number
  byActor: Record<string, number>
  firstIndex: number
  lastIndex: number
  proofs: string
  /** The retired agent: revoked by the revocation at `index`; `refused` is what the log answered its next action. */
  revoked?: { subject: string; index: number; refused: string }
}

const params = (s: string): string => toHex(sha256(utf8(s)))

function mint(name: string): SignerKey {
  const seed = generateSeed()
  return { name, keyId: 0, type: SIG_TYPE_ED25519, seed, publicKey: publicKeyFromSeed(seed) }
}

/**
 * `actlog demo`: creates a few agents of one organisation (the agents
 * credentialed through the namespace `<prefix>agents/`, the workloads
 * through `<prefix>workload/`, as CI often does), retires one agent with a
 * revocation (its next action is refused),
 * and submits a realistic mix of actions with delegation chains, approvals
 * and policy decisions. Keys, credentials and every `.tlog-proof` go to `out`.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const issuer = readKeyFile(o.issuerKey)
  const now = Date.now()
  const window = { notBefore: now - 3_600_000, notAfter: now + 30 * 86_400_000 }
  mkdirSync(join(o.out, 'keys'), { recursive: true })
  mkdirSync(join(o.out, 'proofs'), { recursive: true })

  // A namespace credential (its subject ends in /) from the organisation's
  // issuer: its key issues credentials for the workloads under it, and
  // only for those (DESIGN.md "Issuing authority").
  const ci = mint(`${o.prefix}workload/`)
  const ciCred = await issueCredential({ issuer: issuer.name, subject: ci.name, subjectKey: ci.publicKey, ...window }, issuer.seed)
  const ns = mint(`${o.prefix}agents/`)
  const nsCred = await issueCredential({ issuer: issuer.name, subject: ns.name, subjectKey: ns.publicKey, ...window }, issuer.seed)
  writeKeyFile(join(o.out, 'keys', 'agents-namespace.key'), ns.name, SIG_TYPE_ED25519, ns.seed, true)
  writeCredentialFile(join(o.out, 'keys', 'agents-namespace.cred'), [nsCred], `namespace credential of ${ns.name}`)
  const agent = async (path: string, viaCi: boolean, act: Agent['act']): Promise<Agent> => {
    const key = mint(`${o.prefix}${path}`)
    const [signer, parent] = viaCi ? [ci, ciCred] : [ns, nsCred]
    const cred = await issueCredential({ issuer: signer.name, subject: key.name, subjectKey: key.publicKey, ...window }, signer.seed)
    const chain = [cred, parent]
    const file = path.replace(/[^a-z0-9]+/gi, '-')
    writeKeyFile(join(o.out, 'keys', `${file}.key`), key.name, SIG_TYPE_ED25519, key.seed, true)
    writeCredentialFile(join(o.out, 'keys', `${file}.cred`), chain, `credential chain of ${key.name}`)
    return { key, chain, act }
  }

  const accounts = ['DE89370400440532013000', 'FR1420041010050500013M02606', 'GB29NWBK60161331926819', 'NL91ABNA0417164300']
  const agents = [
    await agent('agents/payments', false, (i) => {
      const large = i % 5 === 0
      const a: ActionInput = {
        action: 'payments.transfer',
        target: `acct:${accounts[i % accounts.length]}`,
        tool: 'mcp://tools.acme.example/payments@1.4.2',
        params: params(`{"amount":${large ? 250_000 : 1_200 + i},"currency":"EUR","ref":"INV-${10_000 + i}"}`),
        policy: { id: 'payments-limit', version: '7', decision: 'allow', ref: params(`payments-limit@7#${i}`) },
        delegation: [
          { principal: 'user:alice@acme.example', scope: 'payments:transfer' },
          { principal: 'svc:treasury-orchestrator', scope: 'payments:transfer:eur', grant: params(`grant-${i}`) },
        ],
      }
      if (large) a.approval = { by: 'user:bob@acme.example', ref: `CHG-2026-${String(i).padStart(4, '0')}` }
      return a
    }),
    await agent('workload/secrets-rotator', true, (i) => ({
      action: 'secrets.rotate',
      target: ['vault://acme/prod/db-password', 'vault://acme/prod/stripe-api-key', 'vault://acme/staging/db-password'][i % 3]!,
      tool: 'vault-cli@1.15.2',
      params: params(`rotate ${i}`),
      policy: { id: 'rotation', version: '2', decision: 'allow' },
    })),
    await agent('workload/deployer', true, (i) => ({
      action: 'deploy.release',
      target: `k8s://prod/payments-api@sha256:${params(`build ${i}`)}`,
      tool: 'argo-cd@2.11.3',
      params: params(`deploy manifest ${i}`),
      policy: { id: 'deploy-window', version: '5', decision: 'allow' },
      approval: { by: 'user:carol@acme.example', ref: `CHG-2026-${String(2000 + i).padStart(4, '0')}` },
    })),
    await agent('agents/iam-admin', false, (i) => ({
      action: i % 4 === 3 ? 'iam.role.revoke' : 'iam.role.grant',
      target: `iam://acme/roles/${['payments-reader', 'ledger-writer', 'support-viewer'][i % 3]}?member=user:dave@acme.example`,
      tool: 'terraform@1.9.5',
      params: params(`iam change ${i}`),
      policy: { id: 'iam-least-privilege', version: '3', decision: i % 4 === 3 ? 'allow' : 'allow-with-review' },
      delegation: [{ principal: 'user:erin@acme.example', scope: 'iam:roles:write' }],
    })),
  ]

  const result: DemoResult = { submitted: 0, byActor: {}, firstIndex: Infinity, lastIndex: -1, proofs: join(o.out, 'proofs') }
  const record = (name: string, reply: AddReply): void => {
    writeFileSync(join(o.out, 'proofs', `${reply.index}.tlog-proof`), reply.proof)
    result.submitted++
    result.byActor[name] = (result.byActor[name] ?? 0) + 1
    result.firstIndex = Math.min(result.firstIndex, reply.index)
    result.lastIndex = Math.max(result.lastIndex, reply.index)
    o.onProgress?.(result.submitted, o.count)
  }

  // One agent is retired: it acts once, the namespace key revokes it, and
  // the log refuses its next action (403 REVOKED).
  let next = 0
  if (o.count > 1) {
    const retired = await agent('agents/legacy-reporter', false, (i) => ({
      action: 'reports.export',
      target: `s3://acme-reports/ledger-${i}.csv`,
      tool: 'mcp://tools.acme.example/reports@0.9.1',
      params: params(`export ${i}`),
      policy: { id: 'reports-export', version: '1', decision: 'allow' },
    }))
    record(retired.key.name, await submitStatement(o.log, await signAction(retired.key, retired.chain, retired.act(0), Date.now()), { waitWitnessed: o.waitWitnessed === true }))
    next = 1
    const revocation = await buildRevocation(
      { subject: retired.key.name, key: retired.key.publicKey, time: Date.now(), reason: 'agent retired; its key was found in an old CI cache', since: Date.now() - 60_000 },
      { seed: ns.seed, credentials: [nsCred] },
    )
    const rv = await submitStatement(o.log, revocation, { waitWitnessed: o.waitWitnessed === true })
    writeFileSync(join(o.out, 'proofs', `${rv.index}.revocation.tlog-proof`), rv.proof)
    try {
      await submitStatement(o.log, await signAction(retired.key, retired.chain, retired.act(1), Date.now()))
      throw new Error(`the log accepted an action of ${retired.key.name} after its revocation at ${rv.index}`)
    } catch (e) {
      if (!(e instanceof LogError) || e.code !== 'REVOKED') throw e
      result.revoked = { subject: retired.key.name, index: rv.index, refused: e.message }
    }
  }
  const worker = async (): Promise<void> => {
    while (next < o.count) {
      const i = next++
      const ag = agents[i % agents.length]!
      const entry = await signAction(ag.key, ag.chain, ag.act(i), Date.now())
      record(ag.key.name, await submitStatement(o.log, entry, { waitWitnessed: o.waitWitnessed === true }))
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency ?? 8, o.count)) }, worker))
  return result
}
