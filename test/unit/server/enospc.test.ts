/**
 * A full disk at the storage layer, both ways it shows up:
 *
 * - injected ENOSPC with nothing written (FaultyKv.failAll): every batch is
 *   answered 503 OVERLOADED with Retry-After, nothing is acknowledged, the
 *   stored state does not change, the operator hears of it (onWriteError),
 *   and once space is back the log goes on where it was;
 * - LevelDB's own report of a full disk (LEVEL_IO_ERROR, which level.ts maps
 *   to `persisted: 'unknown'`): the sequencer stops and calls onFatal (the
 *   CLI exits 70), /healthz says why, and a restart recovers.
 *
 * Over MemoryKv and over real LevelDB.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createCredentialCache, ed25519Signer, parseTrustedIssuers, toHex } from '../../../src/core/index.ts'
import { createLogApp } from '../../../src/server/app.ts'
import { LogMetrics } from '../../../src/server/metrics.ts'
import { LogSignedCheckpoints } from '../../../src/server/published.ts'
import { LogReader } from '../../../src/server/reader.ts'
import { Sequencer } from '../../../src/server/sequencer.ts'
import { FaultyKv, KvLogStore, LevelKv, MemoryKv, StoreWriteError, toStoreWriteError, type KvStore } from '../../../src/storage/index.ts'
import { ISSUERS_FILE, LOG_SEED, ORIGIN, post, statement } from '../../helpers/log-fixture.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function levelKv(): Promise<LevelKv> {
  const d = await mkdtemp(join(tmpdir(), 'actlog-enospc-'))
  dirs.push(d)
  return LevelKv.open(d)
}

/** Every key and value of a store, in order. */
async function dump(kv: KvStore): Promise<string[]> {
  const out: string[] = []
  for await (const [k, v] of kv.iterate()) out.push(`${toHex(k)}=${toHex(v)}`)
  return out
}

async function logOver(kv: KvStore) {
  const faulty = new FaultyKv(kv)
  const store = new KvLogStore(faulty)
  const writeErrors: { err: StoreWriteError; entries: number }[] = []
  const fatal: unknown[] = []
  const sequencer = await Sequencer.open({
    store,
    origin: ORIGIN,
    signer: ed25519Signer(ORIGIN, LOG_SEED),
    maxBatch: 8,
    maxDelayMs: 1,
    onWriteError: (err, entries) => writeErrors.push({ err, entries }),
    onFatal: (err) => fatal.push(err),
  })
  const metrics = new LogMetrics()
  const app = createLogApp({
    sequencer,
    store,
    reader: new LogReader(store),
    issuers: parseTrustedIssuers(ISSUERS_FILE),
    credentialCache: createCredentialCache(100),
    metrics,
    checkpoints: new LogSignedCheckpoints(sequencer, store),
    now: Date.now,
    maxSkewMs: 300_000,
  })
  return { faulty, store, sequencer, app, writeErrors, fatal }
}

for (const backend of ['memory', 'LevelDB'] as const) {
  describe(`a full disk with nothing written (injected ENOSPC), over ${backend}`, () => {
    it('answers 503 with Retry-After, acknowledges nothing, keeps the stored state, reports it, and goes on once space is back', async () => {
      const kv = backend === 'memory' ? new MemoryKv() : await levelKv()
      const log = await logOver(kv)
      const first = await Promise.all([1, 2, 3].map((i) => statement(i, Date.now())))
      for (const e of first) expect((await post(log.app, e)).status).toBe(200)
      const before = await dump(kv)
      const checkpoint = await (await log.app.request('/checkpoint')).text()

      log.faulty.failAll()
      const refused = await Promise.all([10, 11, 12, 13].map((i) => statement(i, Date.now())))
      const answers = await Promise.all(refused.map((e) => post(log.app, e)))
      for (const res of answers) {
        expect(res.status).toBe(503)
        expect(res.headers.get('retry-after')).toBe('1')
        expect(await res.json()).toEqual({ code: 'OVERLOADED', message: 'the log could not write this batch; retry shortly' })
      }
      expect(await dump(kv)).toEqual(before)
      expect(await (await log.app.request('/checkpoint')).text()).toBe(checkpoint)
      expect(log.sequencer.treeSize).toBe(3)
      expect(log.sequencer.stopped).toBe(false)
      expect(((await (await log.app.request('/healthz')).json()) as { status: string }).status).toBe('ok')
      expect(log.fatal).toEqual([])
      // The operator hears of every failed batch, with the cause.
      expect(log.writeErrors.reduce((n, w) => n + w.entries, 0)).toBe(4)
      for (const { err } of log.writeErrors) {
        expect(err.persisted).toBe(false)
        expect(err.message).toMatch(/ENOSPC: no space left on device/)
      }
      // Reads go on while the disk is full.
      expect((await log.app.request('/tile/entries/000.p/3')).status).toBe(200)
      expect((await log.app.request('/proof/2')).status).toBe(200)

      log.faulty.heal()
      const indices = []
      for (const e of refused) indices.push(((await (await post(log.app, e)).json()) as { index: number }).index)
      expect(indices.sort()).toEqual([3, 4, 5, 6])
      for (const [i, e] of first.entries()) expect(((await (await post(log.app, e)).json()) as { index: number }).index).toBe(i)
      await log.sequencer.close()
      await kv.close()
    })
  })
}

describe('a full disk as LevelDB reports it (LEVEL_IO_ERROR: outcome unknown)', () => {
  it('is mapped to persisted "unknown"', () => {
    const native = Object.assign(new Error('IO error: /data/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' })
    const err = toStoreWriteError(native, '/data')
    expect(err.persisted).toBe('unknown')
    expect(err.message).toBe('LevelDB write at /data failed and may have persisted (LEVEL_IO_ERROR): IO error: /data/000003.log: No space left on device')
  })

  it('stops the sequencer and calls onFatal; /healthz says why; a restart on the same data recovers what was acknowledged', async () => {
    const kv = await levelKv()
    const dir = kv.dir
    const log = await logOver(kv)
    const first = await Promise.all([1, 2, 3, 4, 5].map((i) => statement(i, Date.now())))
    for (const e of first) expect((await post(log.app, e)).status).toBe(200)
    // A LevelKv whose next batch fails as LevelDB does on a full disk.
    const realBatch = kv.batch.bind(kv)
    kv.batch = async () => {
      throw toStoreWriteError(Object.assign(new Error(`IO error: ${dir}/000003.log: No space left on device`), { code: 'LEVEL_IO_ERROR' }), dir)
    }
    const res = await post(log.app, await statement(6, Date.now()))
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ code: 'CORRUPT', message: 'the log stopped after a storage failure; it recovers on restart' })
    expect(log.fatal.length).toBe(1)
    expect(String(log.fatal[0])).toMatch(/No space left on device/)
    expect(log.writeErrors).toEqual([])
    const health = await log.app.request('/healthz')
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({ status: 'stopped', treeSize: 5, reason: 'the log stopped after a storage failure; it recovers on restart' })
    // Later submissions are refused without touching the disk.
    expect((await post(log.app, await statement(7, Date.now()))).status).toBe(500)
    kv.batch = realBatch
    await kv.close()

    const again = await logOver(await LevelKv.open(dir))
    expect(again.sequencer.treeSize).toBe(5)
    for (const [i, e] of first.entries()) expect(((await (await post(again.app, e)).json()) as { index: number }).index).toBe(i)
    expect(((await (await post(again.app, await statement(6, Date.now()))).json()) as { index: number }).index).toBe(5)
    await again.sequencer.close()
    await again.store.close()
  })
})
