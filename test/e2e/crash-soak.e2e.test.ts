/**
 * The crash soak (scripts/crash-soak.ts) in 5 cycles: a log and two witness
 * processes under load, the log killed with -9 and restarted each cycle, a
 * witness killed in some; nothing acknowledged lost, every checkpoint served
 * consistent with the next, no witness refusal. `npm run soak` runs 100.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { formatSoak, runSoak, soakPassed } from '../../scripts/crash-soak.ts'

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

  it('sees the loss when the log runs on a disk that acknowledges writes it never stores', async () => {
    // The soak's own check: a log whose store keeps every write from the
    // 30th on in memory only (test/helpers/faulty-storage.ts), so that a
    // kill -9 loses what it acknowledged. Without witnesses it restarts on
    // the shorter history: the soak must count the lost entries.
    const launcher = fileURLToPath(new URL('../helpers/faulty-actlog.js', import.meta.url))
    const spawn = { entry: launcher, env: { ACTLOG_TEST_FAULTS: '30:volatile' } }
    const alone = await runSoak({ cycles: 1, seed: 4, rate: 250, minRunMs: 1500, maxRunMs: 1500, witnesses: 0, earlyKillChance: 0, logSpawn: spawn })
    expect(alone.lost).toBeGreaterThan(0)
    expect(alone.problems.some((p) => /acknowledged index \d+ (is beyond the restarted tree|is served with other bytes)/.test(p))).toBe(true)
    expect(soakPassed(alone)).toBe(false)
    // With witnesses, the restore guard stops the restarted log, and the
    // soak reports that and the witnesses' rollback evidence.
    const witnessed = await runSoak({ cycles: 1, seed: 4, rate: 250, minRunMs: 1500, maxRunMs: 1500, witnessKillChance: 0, earlyKillChance: 0, logSpawn: spawn })
    expect(witnessed.problems.some((p) => /RESTORE GUARD/.test(p))).toBe(true)
    expect(witnessed.witnessRefusals).toBeGreaterThan(0)
    expect(soakPassed(witnessed)).toBe(false)
  }, 120_000)
})
