/**
 * The crash soak (scripts/crash-soak.ts) in 5 cycles: a log and two witness
 * processes under load, the log killed with -9 and restarted each cycle, a
 * witness killed in some; nothing acknowledged lost, every checkpoint served
 * consistent with the next, no witness refusal. `npm run soak` runs 100.
 */
import { describe, expect, it } from 'vitest'
import { formatSoak, runSoak } from '../../scripts/crash-soak.ts'

describe('crash soak, 5 cycles', () => {
  it('loses nothing acknowledged, serves one history, and no witness refuses, across kill -9 of the log and of witnesses', async () => {
    const lines: string[] = []
    // Seed 3 kills a witness in some cycles and the log during startup in one.
    const s = await runSoak({ cycles: 5, seed: 3, rate: 250, witnessKillChance: 0.5, earlyKillChance: 0.3, log: (l) => lines.push(l) })
    console.log(`${lines.join('\n')}\n${formatSoak(s)}`)
    expect(s.problems).toEqual([])
    expect(s.cycles).toBe(5)
    expect(s.logKills).toBeGreaterThanOrEqual(5)
    expect(s.witnessKills).toBeGreaterThanOrEqual(1)
    expect(s.acknowledged).toBeGreaterThan(200)
    expect(s.lost).toBe(0)
    expect(s.inconsistencies).toBe(0)
    expect(s.witnessRefusals).toBe(0)
    expect(s.duplicates).toBe(0)
    expect(s.checkpointsChecked).toBeGreaterThan(10)
  }, 120_000)
})
