import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  consistencyProof,
  ed25519Verifier,
  encodeSignerKey,
  fromHex,
  leafHash,
  openNote,
  parseCheckpoint,
  parseTlogProof,
  publicKeyFromSeed,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../../src/core/index.ts'
import { ISSUERS_FILE, LOG_SEED, ORIGIN, statement } from '../helpers/log-fixture.ts'
import { downloadTree, httpHashReader } from '../helpers/http-tiles.ts'
import { removeDir, startActlog, tempDir, writeJson, type Proc } from '../helpers/processes.ts'

const logVerifier = ed25519Verifier(ORIGIN, publicKeyFromSeed(LOG_SEED))

async function checkpoint(url: string): Promise<ReturnType<typeof parseCheckpoint>> {
  const text = await (await fetch(`${url}/checkpoint`)).text()
  return parseCheckpoint((await openNote(text, [logVerifier])).note.text)
}

function dirBytes(dir: string): number {
  let n = 0
  for (const f of readdirSync(dir)) {
    const s = statSync(join(dir, f))
    n += s.isDirectory() ? dirBytes(join(dir, f)) : s.size
  }
  return n
}

describe('log server process, end to end', () => {
  let dir: string
  let config: string
  let log: Proc | undefined

  beforeAll(() => {
    dir = tempDir()
    writeFileSync(join(dir, 'log.key'), encodeSignerKey(ORIGIN, 1, LOG_SEED) + '\n', { mode: 0o600 })
    writeFileSync(join(dir, 'issuers.txt'), ISSUERS_FILE)
    config = join(dir, 'log.json')
    writeJson(config, { origin: ORIGIN, dataDir: 'data', keyFile: 'log.key', listen: '127.0.0.1:0', issuersFile: 'issuers.txt', batch: { maxEntries: 256, maxDelayMs: 5 } })
  })

  afterAll(async () => {
    await log?.kill9()
    removeDir(dir)
  })

  it('takes 1,000 concurrent submissions, and a client rebuilds the checkpointed root from tiles and bundles', async () => {
    log = await startActlog(['serve', '--config', config])
    const entries = await Promise.all(Array.from({ length: 1000 }, (_, i) => statement(i, Date.now())))
    const started = performance.now()
    const replies = await Promise.all(
      entries.map(async (e) => {
        const res = await fetch(`${log!.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
        expect(res.status).toBe(200)
        return (await res.json()) as { index: number; leafHash: string; proof: string }
      }),
    )
    const seconds = (performance.now() - started) / 1000
    console.log(`e2e: 1000 concurrent submissions acknowledged in ${seconds.toFixed(2)} s (${Math.round(1000 / seconds)}/s)`)
    expect(new Set(replies.map((r) => r.index)).size).toBe(1000)
    for (const [i, r] of replies.entries()) {
      expect(r.leafHash).toBe(toHex(leafHash(entries[i]!)))
      const p = parseTlogProof(r.proof)
      const c = parseCheckpoint((await openNote(p.checkpoint, [logVerifier])).note.text)
      expect(verifyInclusion(leafHash(entries[i]!), r.index, c.treeSize, p.proof, c.rootHash)).toBe(true)
    }
    const c = await checkpoint(log.url)
    expect(c.treeSize).toBe(1000)
    const tree = await downloadTree(log.url, 1000)
    expect(toHex(tree.root)).toBe(toHex(c.rootHash))
    expect(new Set(tree.entries.map(toHex))).toEqual(new Set(entries.map(toHex)))
    const bytes = dirBytes(join(dir, 'data'))
    console.log(`e2e: ${bytes} bytes on disk for 1000 entries of ~${Math.round(entries.reduce((n, e) => n + e.length, 0) / 1000)} bytes: ${Math.round(bytes / 1000)} bytes per entry`)
  })

  it('refuses a second process on the same data directory with a clear message', async () => {
    await expect(startActlog(['serve', '--config', config])).rejects.toThrow(/in use by another actlog process/)
  })

  it('loses no acknowledged entry when killed with -9 under load, and its new history extends the old', async () => {
    const before = await checkpoint(log!.url)
    const acked = new Map<number, string>()
    let stop = false
    let n = 10_000
    const lastSeen = { size: before.treeSize, root: before.rootHash }
    const clients = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const e = await statement(n++, Date.now())
        try {
          const res = await fetch(`${log!.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
          if (res.status === 200) acked.set(((await res.json()) as { index: number }).index, toHex(e))
        } catch {
          // The connection died with the process: this submission was never acknowledged.
        }
      }
    })
    const watcher = (async () => {
      while (!stop) {
        try {
          const c = await checkpoint(log!.url)
          if (c.treeSize >= lastSeen.size) Object.assign(lastSeen, { size: c.treeSize, root: c.rootHash })
        } catch {
          // Killed.
        }
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    await new Promise((r) => setTimeout(r, 1500))
    await log!.kill9()
    stop = true
    await Promise.all([...clients, watcher])
    expect(acked.size).toBeGreaterThan(50)

    log = await startActlog(['serve', '--config', config])
    const after = await checkpoint(log.url)
    expect(after.treeSize).toBeGreaterThanOrEqual(before.treeSize + acked.size)
    const tree = await downloadTree(log.url, after.treeSize)
    expect(toHex(tree.root)).toBe(toHex(after.rootHash))
    for (const [index, hex] of acked) expect(toHex(tree.entries[index]!), `index ${index}`).toBe(hex)
    // Every checkpoint seen before the kill is a prefix of the history after it.
    const proof = await consistencyProof(lastSeen.size, after.treeSize, httpHashReader(log.url, after.treeSize))
    expect(verifyConsistency(lastSeen.size, after.treeSize, proof, lastSeen.root, after.rootHash)).toBe(true)
    // And the log goes on: resubmitting an acknowledged statement gets its index back.
    const [someIndex, someHex] = [...acked][0]!
    const res = await fetch(`${log.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: fromHex(someHex) as BodyInit })
    expect(((await res.json()) as { index: number }).index).toBe(someIndex)
    console.log(`e2e: kill -9 after ${acked.size} acknowledged submissions under load; restarted at size ${after.treeSize}, none lost`)
  })

  it('rebuilds a removed dedup index from the entries when it starts, says so, and gives every entry sent again its index back', async () => {
    const size = (await checkpoint(log!.url)).treeSize
    expect(size).toBeGreaterThan(1000)
    await log!.stop()
    rmSync(join(dir, 'data', 'dedup'), { recursive: true })
    log = await startActlog(['serve', '--config', config])
    expect(log.output()).toContain(`indexing entries 0 to ${size - 1} for deduplication`)
    expect(log.output()).toContain(`indexed ${size} of ${size} entries for deduplication`)
    const tree = await downloadTree(log.url, size)
    for (const index of [0, 1, Math.floor(size / 2), size - 1]) {
      const res = await fetch(`${log.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: tree.entries[index] as BodyInit })
      expect(res.status).toBe(200)
      expect(((await res.json()) as { index: number }).index, `entry ${index}`).toBe(index)
    }
    expect((await checkpoint(log.url)).treeSize).toBe(size)
  })
})
