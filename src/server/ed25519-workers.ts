import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { PlatformEd25519 } from '../core/index.ts'

/**
 * Ed25519 verification on worker threads, each calling Node's synchronous
 * crypto.verify (OpenSSL) on batches of signatures. Core's sig.ts runs the
 * rule's encoding checks before any call reaches it, as for every platform
 * verifier.
 *
 * Why not crypto.verify's callback form: its jobs run on libuv's pool of
 * four threads, the same pool that runs every LevelDB read and synced write.
 * Under load hundreds of verifications queue there, and the log's commits
 * and duplicate lookups wait behind them (commits of 20-25 ms instead of a
 * few, measured). Here the pool is left to storage, and the main thread
 * only copies each batch's inputs into one transferred buffer.
 *
 * Calls made in one turn of the event loop travel together; a batch goes to
 * the worker with the least outstanding work. A worker keeps the process
 * alive only while it owes answers: an idle pool never does.
 */

// Plain JavaScript evaluated in each worker, so no loader is needed there.
// process.getBuiltinModule works whether Node evaluates it as a script or,
// under --input-type=module, as a module. A batch is one buffer of records:
// 32-byte key, 64-byte signature, u32 message length, message. The answer is
// one byte per record.
const WORKER_SOURCE = `
const { parentPort } = process.getBuiltinModule('node:worker_threads')
const { createPublicKey, verify } = process.getBuiltinModule('node:crypto')
const SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map()
function keyOf(pub) {
  const id = pub.toString('latin1')
  let k = keys.get(id)
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.concat([SPKI, pub]), format: 'der', type: 'spki' })
    if (keys.size >= 4096) keys.delete(keys.keys().next().value)
    keys.set(id, k)
  }
  return k
}
parentPort.on('message', ({ id, count, buffer }) => {
  const b = Buffer.from(buffer)
  const out = new Uint8Array(count)
  let o = 0
  for (let i = 0; i < count; i++) {
    const len = b.readUInt32BE(o + 96)
    try {
      out[i] = verify(null, b.subarray(o + 100, o + 100 + len), keyOf(b.subarray(o, o + 32)), b.subarray(o + 32, o + 96)) ? 1 : 0
    } catch {
      out[i] = 0
    }
    o += 100 + len
  }
  parentPort.postMessage({ id, out }, [out.buffer])
})
`

/** Most signatures in one message to a worker: enough to amortise a message, few enough to spread a burst. */
const MAX_BATCH = 64

interface Call {
  pub: Uint8Array
  msg: Uint8Array
  sig: Uint8Array
  resolve: (ok: boolean) => void
  reject: (err: unknown) => void
}

/** A batch sent to a worker: how many verdicts it owes, and where they go. */
interface Sent {
  count: number
  done: (out: Uint8Array) => void
  fail: (err: unknown) => void
}

interface Slot {
  worker: Worker
  /** Signatures sent and not yet answered. */
  load: number
  batches: Map<number, Sent>
}

/** A pool of verifying workers, to install with core's usePlatformEd25519. */
export class Ed25519Workers implements PlatformEd25519 {
  readonly name = 'node:crypto (worker threads)'
  readonly #size: number
  #slots: Slot[] = []
  #queue: Call[] = []
  #scheduled = false
  #nextId = 0
  #closed = false

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#size = size
  }

  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (this.#closed) return Promise.reject(new Error('the Ed25519 worker pool is closed'))
    return new Promise((resolve, reject) => {
      this.#queue.push({ pub: publicKey, msg: message, sig: signature, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#dispatch())
      }
    })
  }

  /** Verdicts of a whole batch, spread over the workers in slices; one promise instead of one per signature. */
  async verifyMany(items: readonly { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[]): Promise<Uint8Array> {
    if (this.#closed) throw new Error('the Ed25519 worker pool is closed')
    const out = new Uint8Array(items.length)
    const parts: Promise<void>[] = []
    for (let i = 0; i < items.length; i += MAX_BATCH) {
      const slice = items.slice(i, i + MAX_BATCH)
      parts.push(
        new Promise<void>((resolve, reject) => {
          this.#send(
            slice.map((it) => ({ pub: it.publicKey, msg: it.message, sig: it.signature })),
            {
              count: slice.length,
              done: (v) => {
                out.set(v, i)
                resolve()
              },
              fail: reject,
            },
          )
        }),
      )
    }
    await Promise.all(parts)
    return out
  }

  #dispatch(): void {
    this.#scheduled = false
    const calls = this.#queue
    this.#queue = []
    for (let i = 0; i < calls.length; i += MAX_BATCH) {
      const batch = calls.slice(i, i + MAX_BATCH)
      this.#send(batch, {
        count: batch.length,
        done: (out) => batch.forEach((c, k) => c.resolve(out[k] === 1)),
        fail: (err) => batch.forEach((c) => c.reject(err)),
      })
    }
  }

  #send(calls: readonly Pick<Call, 'pub' | 'msg' | 'sig'>[], sent: Sent): void {
    let bytes = 0
    for (const c of calls) bytes += 100 + c.msg.length
    const buf = new Uint8Array(bytes)
    const view = new DataView(buf.buffer)
    let o = 0
    for (const c of calls) {
      buf.set(c.pub, o)
      buf.set(c.sig, o + 32)
      view.setUint32(o + 96, c.msg.length)
      buf.set(c.msg, o + 100)
      o += 100 + c.msg.length
    }
    let slot: Slot
    try {
      slot = this.#leastLoaded()
    } catch (err) {
      sent.fail(err)
      return
    }
    const id = this.#nextId++
    slot.batches.set(id, sent)
    if (slot.load === 0) slot.worker.ref()
    slot.load += sent.count
    slot.worker.postMessage({ id, count: sent.count, buffer: buf.buffer }, [buf.buffer])
  }

  #leastLoaded(): Slot {
    let best: Slot | undefined
    for (const s of this.#slots) if (best === undefined || s.load < best.load) best = s
    if (best !== undefined && (best.load === 0 || this.#slots.length >= this.#size)) return best
    return this.#spawn()
  }

  #spawn(): Slot {
    // No inherited flags: the parent's loaders (tsx) have nothing to do here.
    // A worker holds a batch and a cache of parsed keys: small heaps keep
    // each thread's isolate from growing to V8's defaults (tens of MB each).
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } })
    const slot: Slot = { worker, load: 0, batches: new Map() }
    worker.on('message', ({ id, out }: { id: number; out: Uint8Array }) => {
      const sent = slot.batches.get(id)
      if (sent === undefined) return
      slot.batches.delete(id)
      slot.load -= sent.count
      if (slot.load === 0) slot.worker.unref()
      sent.done(out)
    })
    const fail = (err: unknown): void => {
      // A dead worker fails its outstanding calls (an exhausted machine, not
      // a verdict on any signature); the next batch starts a new one.
      this.#slots = this.#slots.filter((s) => s !== slot)
      for (const sent of slot.batches.values()) sent.fail(err)
      slot.batches.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`an Ed25519 verification worker exited (code ${code})`)))
    // Referenced only while it owes answers (a process awaiting a verdict
    // must not exit); set after the listeners, since attaching a 'message'
    // listener references the worker again.
    worker.unref()
    this.#slots.push(slot)
    return slot
  }

  /** Stops the workers; calls still outstanding fail. */
  async close(): Promise<void> {
    this.#closed = true
    const slots = this.#slots
    this.#slots = []
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }
}

let shared: Ed25519Workers | undefined

/** The process's pool, created on first use. */
export function ed25519Workers(): Ed25519Workers {
  shared ??= new Ed25519Workers()
  return shared
}
