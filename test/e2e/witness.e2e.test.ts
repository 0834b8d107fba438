/**
 * The witness over real HTTP and a real LevelDB: startWitness on 127.0.0.1:0
 * from a configuration file, driven with fetch, restarted on the same data
 * directory, and refused when another process holds that directory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  MAX_ADD_CHECKPOINT_BODY,
  SIG_TYPE_COSIGNATURE_V1,
  SIG_TYPE_ED25519,
  TLOG_SIZE_CONTENT_TYPE,
  cosignatureTimestamp,
  cosignatureVerifier,
  encodeSignerKey,
  openNote,
  parseCosignatureResponse,
  publicKeyFromSeed,
  utf8,
} from '../../src/core/index.ts'
import { LevelKv, StoreLockedError, treeStateKey } from '../../src/storage/index.ts'
import { loadWitnessConfig, startWitness, type RunningWitness } from '../../witness/main.ts'
import { TestLog } from '../unit/witness/fixture.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const LOCK_HOLDER = join(REPO, 'test/helpers/storage-lock-holder.ts')
const NAME = 'witness.e2e.example/w'
const SEED = new Uint8Array(32).fill(0x42)
const verifier = cosignatureVerifier(NAME, publicKeyFromSeed(SEED))
const ORIGIN = 'log.e2e.example/actions'
const log = new TestLog(ORIGIN, { seed: 1 })
const goLog = new TestLog('go.sum database tree', { seed: 2, keyName: 'sum.golang.org' })
const NOW = 1_790_000_000_000

let dir: string
const running: RunningWitness[] = []
const children: ChildProcess[] = []

function writeConfig(overrides: Record<string, unknown> = {}): string {
  const file = join(dir, 'witness.json')
  writeFileSync(
    file,
    JSON.stringify({
      name: NAME,
      keyFile: 'witness.key',
      dataDir: 'data',
      listen: '127.0.0.1:0',
      logs: [
        { origin: ORIGIN, vkeys: [log.vkey] },
        { origin: goLog.origin, vkeys: [goLog.vkey] },
      ],
      ...overrides,
    }),
  )
  return file
}

async function start(overrides: Record<string, unknown> = {}): Promise<RunningWitness> {
  const w = await startWitness(loadWitnessConfig(writeConfig(overrides)), { now: () => NOW })
  running.push(w)
  return w
}

async function stop(w: RunningWitness): Promise<void> {
  running.splice(running.indexOf(w), 1)
  await w.close()
}

function add(url: string, body: string): Promise<Response> {
  return fetch(`${url}/add-checkpoint`, { method: 'POST', body })
}

async function cosigned(res: Response, checkpoint: string): Promise<void> {
  const body = await res.text()
  expect(res.status, body).toBe(200)
  const [sig, ...rest] = parseCosignatureResponse(body)
  expect(rest).toEqual([])
  expect(sig!.name).toBe(NAME)
  expect(cosignatureTimestamp(sig!.signature)).toBe(NOW / 1000)
  expect(await verifier.verify(utf8(checkpoint.slice(0, checkpoint.indexOf('\n\n') + 1)), sig!.signature)).toBe(true)
}

function monitorPath(origin: string): string {
  return `/${createHash('sha256').update(origin).digest('hex')}/checkpoint`
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'actlog-witness-e2e-'))
  writeFileSync(join(dir, 'witness.key'), encodeSignerKey(NAME, SIG_TYPE_COSIGNATURE_V1, SEED) + '\n')
})

afterEach(async () => {
  for (const w of running.splice(0)) await w.close()
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

describe('witness over HTTP with LevelDB', () => {
  it('cosigns, serves the monitoring API and metrics, and answers every refusal over the wire', async () => {
    const w = await start()
    expect(w.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const cp = await log.checkpoint(10)
    await cosigned(await add(w.url, await log.body(0, 10, { checkpoint: cp })), cp)
    await cosigned(await add(w.url, await log.body(10, 33)), await log.checkpoint(33))
    // A log whose key name is not its origin.
    await cosigned(await add(w.url, await goLog.body(0, 5)), await goLog.checkpoint(5))

    const mon = await fetch(`${w.url}${monitorPath(ORIGIN)}`)
    expect(mon.status).toBe(200)
    const opened = await openNote(await mon.text(), [log.verifier, verifier])
    expect(opened.verified.length).toBe(2)
    expect((await fetch(`${w.url}${monitorPath('nobody.example/log')}`)).status).toBe(404)

    const conflict = await add(w.url, await log.body(10, 40))
    expect(conflict.status).toBe(409)
    expect(conflict.headers.get('content-type')).toBe(TLOG_SIZE_CONTENT_TYPE)
    expect(await conflict.text()).toBe('33\n')
    expect((await add(w.url, await log.fork('evil').body(33, 33))).status).toBe(422)
    expect((await add(w.url, await new TestLog('nobody.example/log', { seed: 3 }).body(0, 1))).status).toBe(404)
    expect((await add(w.url, await new TestLog(ORIGIN, { seed: 9 }).body(33, 34, { proof: log.proof(33, 34) }))).status).toBe(403)
    expect((await add(w.url, 'old 1\n')).status).toBe(400)
    const big = await add(w.url, `old 0\n\n${'x'.repeat(MAX_ADD_CHECKPOINT_BODY)}`)
    expect(big.status).toBe(413)
    expect(big.headers.get('content-type')).toMatch(/^text\/plain/)

    const metrics = await (await fetch(`${w.url}/metrics`)).text()
    expect(metrics).toContain(`actlog_witness_tree_size{origin="${ORIGIN}"} 33`)
    expect(metrics).toContain('actlog_witness_tree_size{origin="go.sum database tree"} 5')
    expect(metrics).toContain(`actlog_witness_evidence_total{origin="${ORIGIN}",reason="split-view"} 1`)
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200)
  })

  it('lets exactly one of many concurrent first requests win; the rest learn its size', async () => {
    const w = await start()
    const sizes = [3, 9, 27, 81, 243, 7, 70, 100]
    const results = await Promise.all(sizes.map(async (n) => ({ n, res: await add(w.url, await log.body(0, n)) })))
    const ok = results.filter((r) => r.res.status === 200)
    expect(ok.length).toBe(1)
    const winner = ok[0]!.n
    for (const r of results) {
      if (r.res.status === 200) continue
      expect(r.res.status).toBe(409)
      expect(await r.res.text()).toBe(`${winner}\n`)
    }
  })

  it('keeps its state across restarts: the size never goes down', async () => {
    let w = await start()
    await cosigned(await add(w.url, await log.body(0, 120)), await log.checkpoint(120))
    await stop(w)
    w = await start()
    const res = await add(w.url, await log.body(0, 60))
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('120\n')
    await cosigned(await add(w.url, await log.body(120, 200)), await log.checkpoint(200))
    await stop(w)
    w = await start()
    expect(await (await fetch(`${w.url}${monitorPath(ORIGIN)}`)).text()).toContain('\n200\n')
  })

  it('refuses a data directory in use by this process or another, with the StoreLockedError message', async () => {
    const w = await start()
    const dataDir = join(dir, 'data')
    const err = await startWitness(loadWitnessConfig(writeConfig())).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreLockedError)
    expect((err as Error).message).toBe(`data directory ${dataDir} is in use by another actlog process (LevelDB lock held); stop it or choose another --data dir`)
    // The running one is unaffected.
    expect((await fetch(`${w.url}/healthz`)).status).toBe(200)
    await stop(w)

    const child = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, dataDir], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] })
    children.push(child)
    await new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) res()
      })
      child.on('exit', (code) => rej(new Error(`lock holder exited with ${code}`)))
    })
    const err2 = await startWitness(loadWitnessConfig(writeConfig())).catch((e: unknown) => e)
    expect(err2).toBeInstanceOf(StoreLockedError)
    expect((err2 as Error).message).toBe(`data directory ${dataDir} is in use by another actlog process (LevelDB lock held); stop it or choose another --data dir`)
  })

  it('refuses a key that is not its witness key, and a log data directory, releasing the directory', async () => {
    writeFileSync(join(dir, 'log.key'), encodeSignerKey(NAME, SIG_TYPE_ED25519, SEED))
    await expect(start({ keyFile: 'log.key' })).rejects.toThrow(/type 4 \(cosignature\/v1\)/)
    writeFileSync(join(dir, 'other.key'), encodeSignerKey('someone.else/w', SIG_TYPE_COSIGNATURE_V1, SEED))
    await expect(start({ keyFile: 'other.key' })).rejects.toThrow(/named someone.else\/w/)
    await expect(start({ keyFile: 'missing.key' })).rejects.toThrow(TypeError)

    const logDir = join(dir, 'logdata')
    const kv = await LevelKv.open(logDir)
    await kv.batch([{ type: 'put', key: treeStateKey(), value: new Uint8Array(40) }])
    await kv.close()
    await expect(start({ dataDir: 'logdata' })).rejects.toThrow(/holds an actlog log's data/)
    await (await LevelKv.open(logDir)).close()
  })

  it('releases the data directory when it cannot listen', async () => {
    const w = await start()
    const port = new URL(w.url).port
    const err = await start({ dataDir: 'data2', listen: `127.0.0.1:${port}` }).catch((e: unknown) => e)
    expect((err as { code?: string }).code).toBe('EADDRINUSE')
    await (await LevelKv.open(join(dir, 'data2'))).close()
  })
})
