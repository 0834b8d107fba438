/**
 * The auditor end to end: a real log process filled by `actlog demo` with
 * several thousand actions; `actlog audit` finds exactly the actions
 * submitted per actor, and resumes correctly after being stopped halfway
 * (by --max-entries, and by kill -9).
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeSignerKey, encodeVerifierKey, publicKeyFromSeed } from '../../src/core/index.ts'
import { ISSUER_SEED, ISSUER_NAME, LOG_SEED, ORIGIN } from '../helpers/log-fixture.ts'
import { ACTLOG, removeDir, runActlog, startActlog, tempDir, writeJson, type Proc } from '../helpers/processes.ts'

const COUNT = 3000
let dir: string
let log: Proc
const submitted: Record<string, number> = {}
/** The index of the demo's revocation (of its retired agent): the one entry that is no action. */
let revocationIndex = -1

function recordsOf(state: string): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const f of readdirSync(join(state, 'records')).filter((f) => f.endsWith('.jsonl'))) {
    const lines = readFileSync(join(state, 'records', f), 'utf8').trim().split('\n')
    for (const l of lines) {
      const r = JSON.parse(l) as { actor: string; index: number }
      ;(out[r.actor] ??= []).push(r.index)
    }
  }
  return out
}

const auditArgs = (state: string): string[] => ['audit', '--log', log.url, '--policy', join(dir, 'policy.txt'), '--issuers', join(dir, 'issuers.txt'), '--state', state]

describe('actlog audit over a log filled by actlog demo', () => {
  beforeAll(async () => {
    dir = tempDir()
    writeFileSync(join(dir, 'log.key'), encodeSignerKey(ORIGIN, 1, LOG_SEED) + '\n', { mode: 0o600 })
    writeFileSync(join(dir, 'issuer.key'), encodeSignerKey(ISSUER_NAME, 1, ISSUER_SEED) + '\n', { mode: 0o600 })
    const prefix = 'spiffe://fixture.example/'
    writeFileSync(join(dir, 'issuers.txt'), `issuer fixture ${encodeVerifierKey(ISSUER_NAME, 1, publicKeyFromSeed(ISSUER_SEED))} ${prefix}\n`)
    writeFileSync(join(dir, 'policy.txt'), `log ${encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(LOG_SEED))}\nquorum none\n`)
    writeJson(join(dir, 'log.json'), { origin: ORIGIN, dataDir: 'data', keyFile: 'log.key', listen: '127.0.0.1:0', issuersFile: 'issuers.txt' })
    log = await startActlog(['serve', '--config', join(dir, 'log.json')])
    const demo = await runActlog(['demo', '--log', log.url, '--issuer-key', join(dir, 'issuer.key'), '--prefix', prefix, '--count', String(COUNT), '--concurrency', '32', '--out', join(dir, 'demo')])
    expect(demo.code, demo.stderr).toBe(0)
    for (const m of demo.stdout.matchAll(/^\s+(\d+)\s+(\S+)$/gm)) submitted[m[2]!] = Number(m[1])
    expect(Object.values(submitted).reduce((a, b) => a + b, 0)).toBe(COUNT)
    revocationIndex = Number(/revoked \S+ at index (\d+)/.exec(demo.stdout)![1])
  }, 180_000)

  afterAll(async () => {
    await log?.kill9()
    removeDir(dir)
  })

  it('finds exactly the actions submitted per actor, with the checkpoint up to which that is complete', async () => {
    const state = join(dir, 'audit-whole')
    const started = performance.now()
    const r = await runActlog(auditArgs(state))
    const seconds = (performance.now() - started) / 1000
    console.log(`e2e: audited ${COUNT} entries in ${seconds.toFixed(2)} s including process start (${Math.round(COUNT / seconds)} entries/s)`)
    expect(r.code, r.stderr).toBe(0)
    // COUNT actions and the revocation of the demo's retired agent.
    expect(r.stdout).toMatch(new RegExp(`every action up to checkpoint ${COUNT + 1} \\(root `))
    expect(r.stdout).toMatch(new RegExp(`REVOKED  \\S+legacy-reporter key .* by entry ${revocationIndex} \\(namespace: `))
    const recs = recordsOf(state)
    expect(Object.fromEntries(Object.entries(recs).map(([a, ix]) => [a, ix.length]))).toEqual(submitted)
    const all = Object.values(recs).flat().sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: COUNT + 1 }, (_, i) => i).filter((i) => i !== revocationIndex))
    const report = JSON.parse(readFileSync(join(state, 'report.json'), 'utf8')) as { treeSize: number; checkpoint: string }
    expect(report.treeSize).toBe(COUNT + 1)
    // One actor's record alone.
    const actor = Object.keys(submitted)[0]!
    const one = await runActlog([...auditArgs(join(dir, 'audit-one')), '--actor', actor])
    expect(one.code).toBe(0)
    expect(Object.keys(recordsOf(join(dir, 'audit-one')))).toEqual([actor])
    expect(recordsOf(join(dir, 'audit-one'))[actor]).toEqual(recs[actor]!.sort((a, b) => a - b))
  })

  it('resumes correctly after being stopped halfway, by --max-entries or by kill -9', async () => {
    const whole = recordsOf(join(dir, 'audit-whole'))
    const state = join(dir, 'audit-halves')
    const first = await runActlog([...auditArgs(state), '--max-entries', String(COUNT / 2)])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/partial/)
    const second = await runActlog(auditArgs(state))
    expect(second.code, second.stderr).toBe(0)
    expect(recordsOf(state)).toEqual(whole)

    // Killed in the middle of a run (after it saved some progress): the next
    // run picks up from the saved state, without duplicates or gaps.
    let killedMidway = false
    for (let attempt = 0; attempt < 5 && !killedMidway; attempt++) {
      const killed = join(dir, `audit-killed-${attempt}`)
      const proc = spawn(process.execPath, [ACTLOG, ...auditArgs(killed)], { stdio: 'ignore' })
      const exited = new Promise((r) => proc.once('exit', r))
      let done = false
      void exited.then(() => (done = true))
      while (!done) {
        const file = join(killed, 'state.json')
        if (existsSync(file)) {
          const processed = (JSON.parse(readFileSync(file, 'utf8')) as { processed: { treeSize: number } }).processed.treeSize
          if (processed > 0 && processed < COUNT + 1) {
            proc.kill('SIGKILL')
            killedMidway = true
            break
          }
        }
        await new Promise((r) => setTimeout(r, 2))
      }
      await exited
      const again = await runActlog(auditArgs(killed))
      expect(again.code, again.stderr).toBe(0)
      expect(recordsOf(killed)).toEqual(whole)
    }
    expect(killedMidway).toBe(true)
  })
})
