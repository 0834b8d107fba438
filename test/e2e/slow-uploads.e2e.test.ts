/**
 * Slow uploads against a real log process: 1,000 connections send their
 * headers and then trickle their bodies, more than the log's places for
 * statements in flight. Honest submissions keep being sequenced meanwhile,
 * and every slow upload is cut with 408 TIMEOUT once its body deadline
 * passes.
 */
import { connect, type Socket } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeSignerKey } from '../../src/core/index.ts'
import { ISSUERS_FILE, LOG_SEED, ORIGIN, statement } from '../helpers/log-fixture.ts'
import { removeDir, startActlog, tempDir, writeJson, type Proc } from '../helpers/processes.ts'

const SLOW = 1000
/** Fewer than SLOW: a slow upload that held a place would starve honest submissions. */
const MAX_PENDING = 100
const BODY_TIMEOUT_SECONDS = 3

/** A connection that sends its headers, then one byte of its body every 250 ms; resolves with what the server answered once it closes. */
function trickle(port: number): { connected: Promise<void>; answer: Promise<string>; socket: Socket } {
  const socket = connect(port, '127.0.0.1')
  let got = ''
  let timer: ReturnType<typeof setInterval> | undefined
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.write(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/cose\r\nContent-Length: 4000\r\n\r\n`)
      timer = setInterval(() => socket.write('x'), 250)
      resolve()
    })
    socket.once('error', reject)
  })
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (d) => (got += d.toString('latin1')))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearInterval(timer)
      resolve(got)
    })
  })
  return { connected, answer, socket }
}

describe('slow uploads, against the log process', () => {
  let dir: string
  let log: Proc | undefined
  const sockets: Socket[] = []

  beforeAll(async () => {
    dir = tempDir()
    writeFileSync(join(dir, 'log.key'), encodeSignerKey(ORIGIN, 1, LOG_SEED) + '\n', { mode: 0o600 })
    writeFileSync(join(dir, 'issuers.txt'), ISSUERS_FILE)
    const config = join(dir, 'log.json')
    writeJson(config, {
      origin: ORIGIN,
      dataDir: 'data',
      keyFile: 'log.key',
      listen: '127.0.0.1:0',
      issuersFile: 'issuers.txt',
      maxPending: MAX_PENDING,
      bodyTimeoutSeconds: BODY_TIMEOUT_SECONDS,
      batch: { maxEntries: 64, maxDelayMs: 5 },
    })
    log = await startActlog(['serve', '--config', config])
  })

  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await log?.kill9()
    removeDir(dir)
  })

  it('keeps sequencing honest submissions while 1,000 connections trickle their bodies, and cuts each slow one with 408 TIMEOUT', async () => {
    const port = Number(new URL(log!.url).port)
    const slow = Array.from({ length: SLOW }, () => trickle(port))
    sockets.push(...slow.map((s) => s.socket))
    await Promise.all(slow.map((s) => s.connected))
    // Every slow upload has sent its headers and is trickling: submit, in
    // waves, until the slow ones are cut.
    const honest: number[] = []
    let n = 0
    let cut = false
    const allCut = Promise.all(slow.map((s) => s.answer)).then((answers) => {
      cut = true
      return answers
    })
    while (!cut) {
      const wave = await Promise.all(Array.from({ length: 8 }, () => statement(10_000 + n++, Date.now())))
      const statuses = await Promise.all(
        wave.map(async (e) => {
          const res = await fetch(`${log!.url}/add`, { method: 'POST', headers: { 'content-type': 'application/cose' }, body: e as BodyInit })
          await res.arrayBuffer()
          return res.status
        }),
      )
      honest.push(...statuses)
    }
    const answers = await allCut
    expect(honest.length).toBeGreaterThanOrEqual(8)
    expect(honest.filter((s) => s !== 200)).toEqual([])
    for (const a of answers) {
      expect(a).toMatch(/^HTTP\/1\.1 408 /)
      expect(a).toContain('"code":"TIMEOUT"')
      expect(a.toLowerCase()).toContain('connection: close')
    }
    // The log is still healthy and holds exactly the honest statements.
    const health = (await (await fetch(`${log!.url}/healthz`)).json()) as { status: string; treeSize: number }
    expect(health).toEqual({ status: 'ok', treeSize: honest.length })
  }, 60_000)
})
