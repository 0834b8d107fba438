/** An in-process log (memory store, real sequencer, real Hono app) and a statement factory, for HTTP tests. */
import {
  buildStatement,
  createCredentialCache,
  ed25519Signer,
  encodeVerifierKey,
  issueCredential,
  parseTrustedIssuers,
  publicKeyFromSeed,
  sha256,
  utf8,
  type ActionStatement,
  type Credential,
} from '../../src/core/index.ts'
import { createLogApp, type CheckpointSource, type LogAppDeps } from '../../src/server/app.ts'
import type { ConsolePage } from '../../src/server/console-page.ts'
import { LogMetrics } from '../../src/server/metrics.ts'
import { LogSignedCheckpoints } from '../../src/server/published.ts'
import { LogReader } from '../../src/server/reader.ts'
import { LogRevocations } from '../../src/server/revocations.ts'
import { Sequencer } from '../../src/server/sequencer.ts'
import { FaultyKv, KvLogStore, MemoryKv, type LogStore } from '../../src/storage/index.ts'

export const ORIGIN = 'log.test.example/actlog'
export const LOG_SEED = sha256(utf8('fixture log key'))
export const ISSUER_SEED = sha256(utf8('fixture issuer key'))
export const AGENT_SEED = sha256(utf8('fixture agent key'))
export const ISSUER_NAME = 'issuer.fixture.example'
export const PREFIX = 'spiffe://fixture.example/'
export const ACTOR = `${PREFIX}agent/payments`
export const LOG_VKEY = encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(LOG_SEED))
export const ISSUERS_FILE = `issuer fixture ${encodeVerifierKey(ISSUER_NAME, 1, publicKeyFromSeed(ISSUER_SEED))} ${PREFIX}\n`

export interface Fixture {
  app: ReturnType<typeof createLogApp>
  sequencer: Sequencer
  store: LogStore
  kv: MemoryKv
  /** The store's writes go through this, to inject faults. */
  faulty: FaultyKv
  metrics: LogMetrics
  clock: { now: number }
}

export async function makeLog(
  opts: {
    consolePage?: ConsolePage
    issuersFile?: string
    now?: number
    maxPending?: number
    maxInFlight?: number
    maxBatch?: number
    maxDelayMs?: number
    maxSkewMs?: number
    /** A directory for the log's revocation state: with it the log takes revocation entries and refuses revoked chains. */
    revocationsDir?: string
    checkpoints?: (s: Sequencer, store: LogStore) => CheckpointSource
    deps?: Partial<LogAppDeps>
  } = {},
): Promise<Fixture> {
  const kv = new MemoryKv()
  const faulty = new FaultyKv(kv)
  const store = new KvLogStore(faulty)
  const clock = { now: opts.now ?? Date.now() }
  const metrics = new LogMetrics()
  const issuers = parseTrustedIssuers(opts.issuersFile ?? ISSUERS_FILE)
  const revocations = opts.revocationsDir === undefined ? undefined : await LogRevocations.open(opts.revocationsDir, store, issuers)
  const sequencer = await Sequencer.open({
    ...(revocations === undefined ? {} : { inOrder: revocations }),
    store,
    origin: ORIGIN,
    signer: ed25519Signer(ORIGIN, LOG_SEED),
    maxBatch: opts.maxBatch ?? 64,
    maxDelayMs: opts.maxDelayMs ?? 2,
    maxPending: opts.maxPending ?? 10_000,
  })
  const app = createLogApp({
    sequencer,
    store,
    reader: new LogReader(store),
    issuers,
    credentialCache: createCredentialCache(1000),
    metrics,
    checkpoints: opts.checkpoints?.(sequencer, store) ?? new LogSignedCheckpoints(sequencer, store),
    now: () => clock.now,
    maxSkewMs: opts.maxSkewMs ?? 5 * 60_000,
    ...(revocations === undefined ? {} : { revocations }),
    ...(opts.maxInFlight === undefined ? {} : { maxInFlight: opts.maxInFlight }),
    ...(opts.consolePage === undefined ? {} : { consolePage: opts.consolePage }),
    ...opts.deps,
  })
  return { app, sequencer, store, kv, faulty, metrics, clock }
}

let credential: Credential | undefined

/** Returns the fixture agent's credential, valid for years around now. */
export async function agentCredential(over: Partial<Credential> = {}): Promise<Credential> {
  if (Object.keys(over).length > 0) {
    return issueCredential(
      { issuer: ISSUER_NAME, subject: ACTOR, subjectKey: publicKeyFromSeed(AGENT_SEED), notBefore: 0, notAfter: 4_000_000_000_000, ...over },
      ISSUER_SEED,
    )
  }
  credential ??= await issueCredential(
    { issuer: ISSUER_NAME, subject: ACTOR, subjectKey: publicKeyFromSeed(AGENT_SEED), notBefore: 0, notAfter: 4_000_000_000_000 },
    ISSUER_SEED,
  )
  return credential
}

/** Returns a signed statement by the fixture agent; `n` makes it unique. */
export async function statement(n: number, time: number, over: Partial<ActionStatement> = {}, credentials?: Credential[]): Promise<Uint8Array> {
  const s: ActionStatement = {
    actor: ACTOR,
    action: 'payments.transfer',
    target: `acct:DE${String(n).padStart(20, '0')}`,
    params: sha256(utf8(`params ${n}`)),
    tool: 'mcp://tools.fixture.example/payments@1.0.0',
    policy: { id: 'payments-limit', version: '7', decision: 'allow' },
    time,
    nonce: sha256(utf8(`nonce ${n}`)).slice(0, 16),
    ...over,
  }
  return buildStatement(s, { seed: AGENT_SEED, credentials: credentials ?? [await agentCredential()] })
}

/** POSTs a statement to the app. */
export function post(app: Fixture['app'], body: Uint8Array | string, headers: Record<string, string> = {}, query = ''): Promise<Response> {
  return Promise.resolve(
    app.request(`/add${query}`, { method: 'POST', headers: { 'content-type': 'application/cose', ...headers }, body: body as BodyInit }),
  )
}
