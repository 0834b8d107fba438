import { beforeAll, describe, expect, it } from 'vitest'
import { ed25519Signer, encodeVerifierKey, publicKeyFromSeed, sha256, toBase64, utf8, verifyConsistency as coreVerifyConsistency } from '../../../src/core/index.ts'
import {
  createVerifyCache,
  verifyCheckpoint,
  verifyCheckpointConsistency,
  verifyConsistency,
  type ConsistencyVerdict,
  type VerifyConsistencyOptions,
} from '../../../src/verify/index.ts'
import { COSIGN_TIMES, LOG, NOW, NOW_S, ORIGIN, WITNESSES, buildLog, cosigners, editSignatures, flip, policyText, sampleEntries, type TestLog } from './fixture.ts'

const POLICY = policyText()
const base = { policy: POLICY, now: NOW }

function check(a: string, b: string, proof: Uint8Array[], over: Partial<VerifyConsistencyOptions> = {}): Promise<ConsistencyVerdict> {
  return verifyCheckpointConsistency(a, b, proof, { ...base, ...over })
}

async function refused(v: Promise<ConsistencyVerdict>, reason: string, which?: 'old' | 'new'): Promise<ConsistencyVerdict> {
  const r = await v
  expect(r.ok, JSON.stringify(r)).toBe(false)
  if (!r.ok) {
    expect(r.reason, r.message).toBe(reason)
    expect(r.which).toBe(which)
    expect(r.message).not.toMatch(/internal error/)
  }
  return r
}

let entries: Uint8Array[]
const logs: TestLog[] = [] // logs[n] holds the first n entries
let full: TestLog

beforeAll(async () => {
  entries = await sampleEntries(17)
  for (let n = 0; n <= 17; n++) logs.push(await buildLog(entries.slice(0, n)))
  full = logs[17]!
})

describe('verifyCheckpointConsistency', () => {
  it('accepts every older size of one log with the RFC 6962 proof', async () => {
    for (let m = 0; m <= 17; m++) {
      const proof = full.tree.consistency(m, 17)
      const v = await check(logs[m]!.note, full.note, proof)
      expect(v.ok, JSON.stringify(v)).toBe(true)
      if (v.ok) {
        expect(v.old.checkpoint.treeSize).toBe(m)
        expect(v.new.checkpoint).toEqual({ origin: ORIGIN, treeSize: 17, rootHash: toBase64(full.tree.mth(0, 17)) })
        expect(v.new.loggedBy).toBe(NOW_S - 200)
        expect(v.new.witnesses.map((w) => w.name)).toEqual(['W1', 'W3', 'W2'])
      }
    }
  })

  it('refuses a forked history with INCONSISTENT when the fork is inside the old tree', async () => {
    for (const at of [0, 3, 9, 12, 16]) {
      const forked = [...entries]
      forked[at] = flip(forked[at]!, 40)
      const other = await buildLog(forked)
      // Honest checkpoints at sizes above the fork point disagree with the fork...
      for (const m of [at + 1, 17 - 1]) {
        if (m <= at) continue
        const v = await refused(check(logs[m]!.note, other.note, other.tree.consistency(m, 17)), 'INCONSISTENT')
        // Both checkpoints passed their own checks, and the verdict says so.
        expect(!v.ok && v.old?.checkpoint.treeSize).toBe(m)
        expect(!v.ok && v.new?.checkpoint.treeSize).toBe(17)
      }
      // ...while one at or below it is a prefix of both histories.
      expect((await check(logs[at]!.note, other.note, other.tree.consistency(at, 17))).ok).toBe(true)
    }
  })

  it('refuses two checkpoints of one size with different roots as a split view', async () => {
    const forked = [...entries]
    forked[16] = utf8('another entry')
    const other = await buildLog(forked)
    const v = await refused(check(full.note, other.note, []), 'INCONSISTENT')
    expect(!v.ok && v.message).toMatch(/split view/)
    expect((await check(full.note, full.note, [])).ok).toBe(true)
    await refused(check(full.note, full.note, [sha256(utf8('x'))]), 'INCONSISTENT')
  })

  it('refuses each proof hash flipped, one dropped and one added with INCONSISTENT', async () => {
    const proof = full.tree.consistency(6, 17)
    expect(proof.length).toBeGreaterThan(2)
    for (let i = 0; i < proof.length; i++) {
      await refused(check(logs[6]!.note, full.note, proof.map((h, j) => (j === i ? flip(h, 7) : h))), 'INCONSISTENT')
      await refused(check(logs[6]!.note, full.note, proof.filter((_, j) => j !== i)), 'INCONSISTENT')
    }
    await refused(check(logs[6]!.note, full.note, [...proof, sha256(utf8('x'))]), 'INCONSISTENT')
  })

  it('refuses an old checkpoint larger than the new one, and checkpoints of two logs, with INCONSISTENT', async () => {
    await refused(check(full.note, logs[10]!.note, full.tree.consistency(10, 17)), 'INCONSISTENT')
    const other = { origin: 'other.log.test', seed: sha256(utf8('other log')) }
    const otherLog = await buildLog(entries, { origin: other.origin, log: ed25519Signer(other.origin, other.seed) })
    const policy = `log ${encodeVerifierKey(other.origin, 1, publicKeyFromSeed(other.seed))}\n${POLICY}`
    const v = await refused(check(logs[10]!.note, otherLog.note, full.tree.consistency(10, 17), { policy }), 'INCONSISTENT')
    expect(!v.ok && v.message).toMatch(/different logs/)
  })

  it('refuses proof hashes that are not 32 bytes, or too many, with MALFORMED_PROOF', async () => {
    const proof = full.tree.consistency(6, 17)
    await refused(check(logs[6]!.note, full.note, [proof[0]!.slice(1), ...proof.slice(1)]), 'MALFORMED_PROOF')
    await refused(check(logs[6]!.note, full.note, Array.from({ length: 64 }, () => proof[0]!)), 'MALFORMED_PROOF')
  })

  it('names the checkpoint that failed its own checks', async () => {
    const proof = full.tree.consistency(10, 17)
    const badLog = editSignatures(logs[10]!.note, (s) => s.map((x) => (x.name === ORIGIN ? { ...x, signature: flip(x.signature, 1) } : x)))
    await refused(check(badLog, full.note, proof), 'BAD_LOG_SIGNATURE', 'old')
    const lonely = await buildLog(entries, { cosigners: cosigners([NOW_S], WITNESSES.slice(0, 1)) })
    const v = await refused(check(logs[10]!.note, lonely.note, proof), 'QUORUM_NOT_MET', 'new')
    expect(!v.ok && v.old?.checkpoint.treeSize).toBe(10)
    await refused(check('not a note', full.note, proof), 'MALFORMED_CHECKPOINT', 'old')
  })

  it('with requireQuorum false, accepts uncosigned checkpoints but still refuses bad or future cosignatures', async () => {
    const bare = await buildLog(entries, { cosigners: [] })
    const proof = full.tree.consistency(10, 17)
    await refused(check(logs[10]!.note, bare.note, proof), 'QUORUM_NOT_MET', 'new')
    const v = await check(logs[10]!.note, bare.note, proof, { requireQuorum: false })
    expect(v.ok).toBe(true)
    if (v.ok) {
      expect(v.new.witnesses).toEqual([])
      expect(v.new.loggedBy).toBeUndefined()
    }
    const badCosig = editSignatures(full.note, (s) => s.map((x) => (x.name === WITNESSES[0].keyName ? { ...x, signature: flip(x.signature, 60) } : x)))
    await refused(check(logs[10]!.note, badCosig, proof, { requireQuorum: false }), 'BAD_COSIGNATURE', 'new')
    const future = await buildLog(entries, { cosigners: cosigners([NOW_S + 3600, NOW_S, NOW_S]) })
    await refused(check(logs[10]!.note, future.note, proof, { requireQuorum: false }), 'FUTURE_COSIGNATURE', 'new')
  })

  it('gives the same verdicts with a cache', async () => {
    const cache = createVerifyCache()
    const forked = [...entries]
    forked[2] = utf8('fork')
    const other = await buildLog(forked)
    const cases: [string, string, Uint8Array[]][] = [
      [logs[10]!.note, full.note, full.tree.consistency(10, 17)],
      [logs[10]!.note, other.note, other.tree.consistency(10, 17)],
      [logs[5]!.note, full.note, full.tree.consistency(5, 17)],
      [full.note, logs[5]!.note, []],
    ]
    for (let round = 0; round < 2; round++) {
      for (const [a, b, p] of cases) expect(await check(a, b, p, { cache })).toEqual(await check(a, b, p))
    }
    expect(cache.stats().checkpointHits).toBeGreaterThan(8)
  })

  it('throws TypeError on misuse', async () => {
    await expect(verifyCheckpointConsistency(1 as never, full.note, [], base)).rejects.toThrow(TypeError)
    await expect(verifyCheckpointConsistency(full.note, full.note, 'x' as never, base)).rejects.toThrow(TypeError)
    await expect(verifyCheckpointConsistency(full.note, full.note, [], { ...base, requireQuorum: 'no' as never })).rejects.toThrow(TypeError)
  })

  it("re-exports core's verifyConsistency for bare hashes", () => {
    expect(verifyConsistency).toBe(coreVerifyConsistency)
    expect(verifyConsistency(10, 17, full.tree.consistency(10, 17), full.tree.mth(0, 10), full.tree.mth(0, 17))).toBe(true)
  })
})

describe('verifyCheckpoint', () => {
  it('reports the log key, the witnesses and the earliest quorum time', async () => {
    const v = await verifyCheckpoint(full.note, base)
    expect(v).toEqual({
      ok: true,
      checkpoint: { origin: ORIGIN, treeSize: 17, rootHash: toBase64(full.tree.mth(0, 17)) },
      log: ORIGIN,
      witnesses: [
        { name: 'W1', timestamp: COSIGN_TIMES[0] },
        { name: 'W3', timestamp: COSIGN_TIMES[2] },
        { name: 'W2', timestamp: COSIGN_TIMES[1] },
      ],
      loggedBy: NOW_S - 200,
    })
    expect(await verifyCheckpoint(utf8(full.note), base)).toEqual(v)
  })

  it('refuses oversized and non-UTF-8 notes with MALFORMED_CHECKPOINT', async () => {
    for (const bad of ['x'.repeat(300_000), new Uint8Array([0x61, 0xff, 0x0a])]) {
      const v = await verifyCheckpoint(bad, base)
      expect(v.ok === false && v.reason).toBe('MALFORMED_CHECKPOINT')
    }
  })

  it('refuses a checkpoint of an unknown log with UNKNOWN_LOG', async () => {
    const v = await verifyCheckpoint(full.note, { ...base, policy: `log ${encodeVerifierKey('x.example', 1, publicKeyFromSeed(LOG.seed.slice().reverse()))}\nquorum none\n` })
    expect(v.ok === false && v.reason).toBe('UNKNOWN_LOG')
  })
})
