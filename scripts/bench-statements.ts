/**
 * Signed statements for the benchmark, made outside every timed region:
 * several agents of one organisation, each with a credential from a trusted
 * issuer, sign realistic actions. Signing uses Node's crypto.sign in worker
 * threads (Ed25519 signatures are deterministic, so the bytes are exactly
 * what core's buildStatement would produce; a check below makes sure).
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import {
  buildStatement,
  encodeProtectedHeader,
  encodePayload,
  encodeTagged,
  encodeVerifierKey,
  issueCredential,
  publicKeyFromSeed,
  sha256,
  sigStructure,
  toHex,
  utf8,
  COSE_SIGN1_TAG,
  type ActionStatement,
  type Credential,
} from '../src/core/index.ts'

export const BENCH_ISSUER_SEED = sha256(utf8('bench issuer'))
export const BENCH_ISSUER = 'issuer.bench.example'
export const BENCH_PREFIX = 'spiffe://bench.example/'
export const BENCH_ISSUERS_FILE = `issuer bench ${encodeVerifierKey(BENCH_ISSUER, 1, publicKeyFromSeed(BENCH_ISSUER_SEED))} ${BENCH_PREFIX}\n`
const AGENTS = 16
const agentSeed = (a: number): Uint8Array => sha256(utf8(`bench agent ${a}`))
const agentName = (a: number): string => `${BENCH_PREFIX}agent/${a}`
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

interface Job {
  from: number
  to: number
  time: number
  salt: string
  credentials: string[]
}

function statementOf(i: number, time: number, salt: string): ActionStatement {
  const a = i % AGENTS
  const s: ActionStatement = {
    actor: agentName(a),
    action: ['payments.transfer', 'secrets.rotate', 'deploy.release', 'iam.role.grant'][i % 4]!,
    target: `acct:DE${String(i).padStart(20, '0')}`,
    params: sha256(utf8(`bench params ${salt} ${i}`)),
    tool: 'mcp://tools.bench.example/payments@1.4.2',
    policy: { id: 'payments-limit', version: '7', decision: 'allow' },
    time: time + (i % 1000),
    nonce: sha256(utf8(`bench nonce ${salt} ${i}`)).slice(0, 16),
  }
  if (i % 3 === 0) s.delegation = [{ principal: 'user:alice@bench.example', scope: 'payments:transfer' }]
  return s
}

function makeEntries(job: Job): Uint8Array[] {
  const creds = job.credentials.map((h) => Uint8Array.from(Buffer.from(h, 'hex')))
  const { parseCredential } = coreCredentials
  const chains = creds.map((c) => [parseCredential(c)])
  const keys: KeyObject[] = Array.from({ length: AGENTS }, (_, a) => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, agentSeed(a)]), format: 'der', type: 'pkcs8' }))
  const headers = Array.from({ length: AGENTS }, (_, a) => encodeProtectedHeader(publicKeyFromSeed(agentSeed(a)), chains[a]!))
  const out: Uint8Array[] = []
  for (let i = job.from; i < job.to; i++) {
    const a = i % AGENTS
    const payload = encodePayload(statementOf(i, job.time, job.salt))
    const signature = sign(null, sigStructure(headers[a]!, payload), keys[a]!)
    out.push(encodeTagged(COSE_SIGN1_TAG, [headers[a]!, new Map(), payload, new Uint8Array(signature)]))
  }
  return out
}

// Imported lazily so the worker entry shares this module.
const coreCredentials = await import('../src/core/credential.ts')

async function credentials(notBefore: number): Promise<Credential[]> {
  return Promise.all(
    Array.from({ length: AGENTS }, (_, a) =>
      issueCredential({ issuer: BENCH_ISSUER, subject: agentName(a), subjectKey: publicKeyFromSeed(agentSeed(a)), notBefore, notAfter: notBefore + 30 * 86_400_000 }, BENCH_ISSUER_SEED),
    ),
  )
}

/**
 * Returns `n` distinct signed statements, timestamped around `time` (ms),
 * made by `threads` workers. `salt` makes runs distinct from each other.
 */
export async function generateStatements(n: number, opts: { time: number; salt: string; threads?: number }): Promise<Uint8Array[]> {
  const creds = (await credentials(opts.time - 86_400_000)).map((c) => toHex(coreCredentials.encodeCredential(c)))
  const threads = Math.max(1, opts.threads ?? 2)
  const per = Math.ceil(n / threads)
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const job: Job = { from: t * per, to: Math.min(n, (t + 1) * per), time: opts.time, salt: opts.salt, credentials: creds }
      return new Promise<Uint8Array[]>((resolve, reject) => {
        // A worker starts without the parent's TypeScript loader: register tsx, then load this module.
        const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}) })`
        const w = new Worker(boot, { eval: true, workerData: job })
        w.once('message', (m: Uint8Array[]) => resolve(m))
        w.once('error', reject)
      })
    }),
  )
  const all = parts.flat()
  // The worker's bytes must be what core builds and the log checks.
  const check = await buildStatement(statementOf(0, opts.time, opts.salt), { seed: agentSeed(0), credentials: [coreCredentials.parseCredential(Uint8Array.from(Buffer.from(creds[0]!, 'hex')))] })
  if (Buffer.compare(Buffer.from(check), Buffer.from(all[0]!)) !== 0) throw new Error('benchmark statements differ from core buildStatement')
  return all
}

if (!isMainThread && parentPort !== null) {
  const entries = makeEntries(workerData as Job)
  parentPort.postMessage(entries)
}
