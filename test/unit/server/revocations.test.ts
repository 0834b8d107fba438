/**
 * The log's revocation state: a batch is decided in index order, counting
 * the revocations earlier in the same batch; one batch or many give the
 * same verdicts; and the state is rebuilt from the log's entries when its
 * record is missing.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { appendToEdge, EMPTY_EDGE, encodeEntryBundle, fromHex, leafHash, parseTrustedIssuers, TILE_WIDTH } from '../../../src/core/index.ts'
import { LogRevocations } from '../../../src/server/revocations.ts'
import { createMemoryLogStore } from '../../../src/storage/index.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

const V = loadSharedStatementVectors()
const issuers = parseTrustedIssuers(V.issuers_file)
const sequences = V.sequences as { name: string; entries_hex: string[]; want: string[] }[]
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'actlog-revocations-'))
  dirs.push(d)
  return d
}

/** The entries of a sequence that admission would let through (it refuses UNTRUSTED ones), with their wanted verdicts. */
function admitted(seq: (typeof sequences)[number]): { entries: Uint8Array[]; want: string[] } {
  const keep = seq.want.map((w, i) => [w, i] as const).filter(([w]) => w !== 'UNTRUSTED')
  return { entries: keep.map(([, i]) => fromHex(seq.entries_hex[i]!)), want: keep.map(([w]) => w) }
}

async function decideAll(entries: Uint8Array[], batch: number): Promise<{ verdicts: string[]; r: LogRevocations }> {
  const r = await LogRevocations.open(dir(), createMemoryLogStore(), issuers)
  const verdicts: string[] = []
  let size = 0
  for (let i = 0; i < entries.length; i += batch) {
    const part = entries.slice(i, i + batch)
    const d = r.decideBatch(part, size)
    verdicts.push(...d.refusals.map((x) => (x === undefined ? 'ok' : x.code)))
    size += d.refusals.filter((x) => x === undefined).length
    r.commit(d, size, part)
  }
  return { verdicts, r }
}

describe('log revocation state', () => {
  for (const seq of sequences) {
    it(`${seq.name}: decided in index order, in one batch or one by one`, async () => {
      const { entries, want } = admitted(seq)
      const one = await decideAll(entries, entries.length)
      const each = await decideAll(entries, 1)
      expect(one.verdicts).toEqual(want)
      expect(each.verdicts).toEqual(want)
      expect(one.r.list()).toEqual(each.r.list())
    })
  }

  it('names the revocation in a REVOKED refusal and refuses a committed revocation early', async () => {
    const { entries } = admitted(sequences[0]!)
    const { r } = await decideAll(entries.slice(0, 2), 2)
    const d = r.decideBatch([entries[2]!], 2)
    expect(d.refusals[0]?.message).toMatch(/revoked by log entry 1/)
    const s = (await import('../../../src/core/index.ts')).parseStatement(entries[2]!)
    expect(() => r.check(s, s.credentials)).toThrow(expect.objectContaining({ code: 'REVOKED' }))
  })

  it('is rebuilt from the stored entries when its record is missing', async () => {
    const { entries } = admitted(sequences[0]!)
    const kept = entries.slice(0, 2)
    const store = createMemoryLogStore()
    const { written } = appendToEdge(EMPTY_EDGE, kept.map(leafHash))
    await store.commit({
      tree: { treeSize: kept.length, rootHash: new Uint8Array(32) },
      tiles: [...written, { tile: { level: 'entries', index: 0, width: kept.length }, data: encodeEntryBundle(kept) }],
      dedup: [],
      checkpoint: 'x',
    })
    expect(TILE_WIDTH).toBeGreaterThan(kept.length)
    const d = dir()
    const first = await LogRevocations.open(d, store, issuers)
    expect(first.list().map((x) => x.index)).toEqual([1])
    unlinkSync(join(d, 'revocations.json'))
    let rebuilt: [number, number] | undefined
    const again = await LogRevocations.open(d, store, issuers, (from, to) => (rebuilt = [from, to]))
    expect(rebuilt).toEqual([0, 2])
    expect(again.list()).toEqual(first.list())
    expect(again.decideBatch([entries[2]!], 2).refusals[0]?.code).toBe('REVOKED')
  })
})
