/**
 * Shared fixtures of the witness tests: test logs (a reference Merkle tree,
 * an Ed25519 log key whose name may differ from the origin, signed
 * checkpoints and add-checkpoint bodies) and a witness app over a KvStore.
 */
import type { Hono } from 'hono'
import { expect } from 'vitest'
import {
  EMPTY_ROOT,
  cosignatureTimestamp,
  cosignatureVerifier,
  ed25519Signer,
  ed25519Verifier,
  encodeAddCheckpointRequest,
  encodeCheckpoint,
  encodeSignerKey,
  encodeVerifierKey,
  parseSignerKey,
  SIG_TYPE_COSIGNATURE_V1,
  parseCosignatureResponse,
  publicKeyFromSeed,
  signNote,
  toHex,
  utf8,
  SIG_TYPE_ED25519,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
} from '../../../src/core/index.ts'
import { MemoryKv, prefixRange, type KvStore } from '../../../src/storage/index.ts'
import { createWitnessApp } from '../../../witness/app.ts'
import { WitnessMetrics } from '../../../witness/metrics.ts'
import { PREFIX_COSIGNED, WitnessState, type EvidenceLimits } from '../../../witness/state.ts'
import { witnessCosigner, type WitnessedLog } from '../../../witness/witness.ts'
import { RefTree, refLeafHash } from '../../helpers/reference-merkle.ts'

export const WITNESS_NAME = 'witness.test/w1'
export const WITNESS_SEED = new Uint8Array(32).fill(7)
export const witnessVerifier = cosignatureVerifier(WITNESS_NAME, publicKeyFromSeed(WITNESS_SEED))
/** The test clock's start, in ms (cosignature timestamps are its seconds). */
export const T0 = 1_780_000_000_000

function seedOf(n: number): Uint8Array {
  const s = new Uint8Array(32)
  s[0] = n
  s[31] = 0x5a
  return s
}

/** A log for tests: a reference tree of `size` leaves and an Ed25519 key. */
export class TestLog {
  readonly signer: NoteSigner
  readonly verifier: NoteVerifier
  readonly vkey: string
  readonly tree: RefTree

  /**
   * `keyName` defaults to the origin; `fork` changes every leaf, so a log
   * with the same origin and key but another fork signs a split view.
   */
  constructor(
    readonly origin: string,
    readonly opts: { seed: number; keyName?: string; size?: number; fork?: string } = { seed: 1 },
  ) {
    const name = opts.keyName ?? origin
    const seed = seedOf(opts.seed)
    this.signer = ed25519Signer(name, seed)
    this.verifier = ed25519Verifier(name, publicKeyFromSeed(seed))
    this.vkey = encodeVerifierKey(name, SIG_TYPE_ED25519, publicKeyFromSeed(seed))
    const size = opts.size ?? 300
    this.tree = new RefTree(Array.from({ length: size }, (_, i) => refLeafHash(utf8(`${opts.fork ?? 'main'} leaf ${i}`))))
  }

  /** The same log (origin and key) on another branch of history. */
  fork(name: string): TestLog {
    return new TestLog(this.origin, { ...this.opts, fork: name })
  }

  /** As a witness configures it. */
  get witnessed(): WitnessedLog {
    return { origin: this.origin, verifiers: [this.verifier] }
  }

  root(n: number): Uint8Array {
    return n === 0 ? EMPTY_ROOT : this.tree.mth(0, n)
  }

  proof(m: number, n: number): Uint8Array[] {
    return this.tree.consistency(m, n)
  }

  /** Returns the checkpoint of size `n` signed by the log key (and `extra` signers), or with another `root`. */
  async checkpoint(n: number, opts: { root?: Uint8Array; extra?: NoteSigner[]; signers?: NoteSigner[] } = {}): Promise<string> {
    const text = encodeCheckpoint({ origin: this.origin, treeSize: n, rootHash: opts.root ?? this.root(n), extensions: [] })
    return signNote(text, opts.signers ?? [this.signer, ...(opts.extra ?? [])])
  }

  /** Returns an add-checkpoint body from `old` to `n` with the right proof unless told otherwise. */
  async body(old: number, n: number, opts: { proof?: Uint8Array[]; root?: Uint8Array; extra?: NoteSigner[]; checkpoint?: string } = {}): Promise<string> {
    const checkpoint = opts.checkpoint ?? (await this.checkpoint(n, opts))
    return encodeAddCheckpointRequest({ oldSize: old, proof: opts.proof ?? this.proof(old, n), checkpoint })
  }
}

/** A test witness: the app and what a test inspects or drives. */
export interface TestWitness {
  app: Hono
  state: WitnessState
  metrics: WitnessMetrics
  kv: KvStore
  clock: { ms: number }
}

/** Returns a witness app of `logs` over `kv` (a fresh MemoryKv by default). */
export function makeWitness(
  logs: (TestLog | WitnessedLog)[],
  opts: { kv?: KvStore; beforeStore?: (origin: string) => Promise<void>; limits?: Partial<EvidenceLimits>; errors?: unknown[] } = {},
): TestWitness {
  const kv = opts.kv ?? new MemoryKv()
  const clock = { ms: T0 }
  const state = new WitnessState(kv, opts.limits)
  const metrics = new WitnessMetrics()
  const now = (): number => clock.ms
  const app = createWitnessApp({
    state,
    logs: logs.map((l) => (l instanceof TestLog ? l.witnessed : l)),
    cosigner: witnessCosigner(parseSignerKey(encodeSignerKey(WITNESS_NAME, SIG_TYPE_COSIGNATURE_V1, WITNESS_SEED)), now),
    now,
    metrics,
    ...(opts.beforeStore !== undefined ? { beforeStore: opts.beforeStore } : {}),
    logError: (e) => opts.errors?.push(e),
  })
  return { app, state, metrics, kv, clock }
}

/** POSTs an add-checkpoint body. */
export async function post(app: Hono, body: string | Uint8Array): Promise<Response> {
  return app.request('/add-checkpoint', { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body) })
}

/** Returns the signature lines of a 200 answer after checking each is a valid cosignature of `checkpoint` at the clock's second. */
export async function expectCosigned(res: Response, checkpoint: string, clockMs?: number): Promise<NoteSignature[]> {
  const body = await res.text()
  expect(res.status, body).toBe(200)
  const sigs = parseCosignatureResponse(body)
  expect(sigs.length).toBe(1)
  const text = checkpoint.slice(0, checkpoint.indexOf('\n\n') + 1)
  for (const s of sigs) {
    expect(s.name).toBe(WITNESS_NAME)
    expect(s.keyId).toBe(witnessVerifier.keyId)
    expect(await witnessVerifier.verify(utf8(text), s.signature)).toBe(true)
    if (clockMs !== undefined) expect(cosignatureTimestamp(s.signature)).toBe(Math.floor(clockMs / 1000))
  }
  return sigs
}

/** Returns the status and text of a refusal, checking it is plain text with a useful message. */
export async function refusal(res: Response): Promise<{ status: number; text: string; type: string }> {
  const text = await res.text()
  const type = res.headers.get('content-type') ?? ''
  if (res.status !== 409) {
    expect(type).toMatch(/^text\/plain/)
    expect(text.length).toBeGreaterThan(15)
  }
  return { status: res.status, text, type }
}

/** Returns every stored cosigned-checkpoint record, hex-encoded, to compare before and after a refusal. */
export async function snapshot(kv: KvStore): Promise<string[]> {
  const out: string[] = []
  for await (const [k, v] of kv.iterate(prefixRange(PREFIX_COSIGNED))) out.push(`${toHex(k)}=${toHex(v)}`)
  return out
}

/** Returns a promise and the function that resolves it. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((r) => (open = r))
  return { wait, open }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
