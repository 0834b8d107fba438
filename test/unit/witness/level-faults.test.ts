/**
 * The witness over real LevelDB with a fault at every write point (cosigned
 * state and evidence), before and after persisting. A client drives one log
 * forward (resyncing on 409, as the log's witnessing does) among signed
 * refusals that are kept as evidence; after each fault the store is closed,
 * as a process exit leaves it, and the witness starts again on the
 * directory. Invariants: a cosignature is only ever handed out for a tree
 * the reopened store holds (or a larger one), cosigned sizes never go down,
 * and the log reaches its final size.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseSizeBody } from '../../../src/core/index.ts'
import { FaultyKv, LevelKv, type FaultMode } from '../../../src/storage/index.ts'
import { TestLog, expectCosigned, makeWitness, post } from './fixture.ts'

const ORIGIN = 'log.example.org/level-faults'

/** What the client does next: move the log to a size, or send a signed request the witness must refuse. */
type Step = { to: number } | { hostile: 'split-view' | 'rollback' }
const STEPS: Step[] = [{ to: 10 }, { to: 20 }, { hostile: 'split-view' }, { to: 30 }, { hostile: 'rollback' }, { to: 45 }, { to: 60 }, { hostile: 'split-view' }, { to: 80 }]

describe('witness over LevelDB with a storage fault at every write point', () => {
  for (const mode of ['before', 'after'] as FaultMode[]) {
    it(`never cosigns a tree it has not durably stored, nor a smaller one after a larger, failing ${mode} persisting`, async () => {
      const log = new TestLog(ORIGIN, { seed: 3 })
      let points = 0
      for (let n = 1; n <= 9; n++) {
        const dir = await mkdtemp(join(tmpdir(), 'actlog-witness-level-'))
        let faulty = new FaultyKv(await LevelKv.open(dir))
        const first = faulty
        faulty.failAt(n, mode)
        let w = makeWitness([log], { kv: faulty })
        let known = 0
        let cosigned = 0
        let faults = 0
        const restart = async (): Promise<void> => {
          await faulty.close()
          faulty = new FaultyKv(await LevelKv.open(dir))
          w = makeWitness([log], { kv: faulty })
          // Everything cosigned so far is durably stored.
          const stored = (await w.state.latest(ORIGIN))?.treeSize ?? 0
          expect(stored, `write ${n}: stored ${stored} after cosigning ${cosigned}`).toBeGreaterThanOrEqual(cosigned)
        }
        try {
          for (const step of STEPS) {
            if ('hostile' in step) {
              const body = step.hostile === 'split-view' ? await log.fork(`evil ${n}`).body(known, known) : await log.body(0, Math.max(1, known - 5))
              const res = await post(w.app, body)
              expect([409, 422], `write ${n}: ${step.hostile}`).toContain(res.status)
              await res.text()
              continue
            }
            // Drive the log to `step.to`, resyncing on 409 and retrying after a failed write.
            for (let attempt = 0; ; attempt++) {
              expect(attempt, `write ${n}: stuck moving to ${step.to}`).toBeLessThan(4)
              const res = await post(w.app, await log.body(known, step.to))
              if (res.status === 200) {
                await expectCosigned(res, await log.checkpoint(step.to))
                expect(step.to, 'a smaller tree cosigned after a larger one').toBeGreaterThanOrEqual(cosigned)
                cosigned = step.to
                known = step.to
                break
              }
              if (res.status === 409) {
                known = parseSizeBody(await res.text())
                continue
              }
              expect([500, 503], `write ${n}: moving to ${step.to}`).toContain(res.status)
              expect(await res.text()).toMatch(/no cosignature/)
              faults++
              await restart()
            }
          }
          if (first.calls >= n) points++
          await restart()
          expect((await w.state.latest(ORIGIN))?.treeSize).toBe(80)
          // A failed evidence write changes no answer, so not every fault shows as a 500 or 503.
          expect(faults).toBeLessThanOrEqual(1)
        } finally {
          await faulty.close().catch(() => {})
          await rm(dir, { recursive: true, force: true })
        }
      }
      // Six cosigned states and three evidence records: nine write points.
      expect(points).toBe(9)
    })
  }
})
