/**
 * The log reader's proofs and roots, served from one long-lived reader (its
 * caches warm) while the log grows, against the RFC 6962 reference over the
 * same entries.
 */
import { describe, expect, it } from 'vitest'
import { ed25519Signer, toHex } from '../../../src/core/index.ts'
import { LogReader } from '../../../src/server/reader.ts'
import { Sequencer } from '../../../src/server/sequencer.ts'
import { KvLogStore, MemoryKv } from '../../../src/storage/index.ts'
import { RefTree, refLeafHash } from '../../helpers/reference-merkle.ts'

const ORIGIN = 'test.example/log'
const hex = (hs: Uint8Array[]): string[] => hs.map(toHex)

describe('log reader', () => {
  it('serves the same inclusion and consistency proofs and roots as the reference, for old and new sizes, as the log grows', async () => {
    const store = new KvLogStore(new MemoryKv())
    const reader = new LogReader(store)
    const seq = await Sequencer.open({ store, origin: ORIGIN, signer: ed25519Signer(ORIGIN, new Uint8Array(32).fill(5)), maxBatch: 1000, maxDelayMs: 0, reader })
    const entries: Uint8Array[] = []
    const sizes: number[] = []
    // Batches of uneven sizes cross tile boundaries at levels 0 and 1.
    for (const n of [1, 2, 5, 250, 1, 17, 300, 256, 3, 700, 64, 1]) {
      const batch = Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry ${entries.length + i}`))
      await Promise.all(batch.map((e) => seq.submit(e)))
      entries.push(...batch)
      sizes.push(entries.length)
      const ref = new RefTree(entries.map(refLeafHash))
      const size = entries.length
      expect(toHex(await reader.rootHash(size))).toBe(toHex(ref.mth(0, size)))
      // Every entry of the newest batch, and a spread of older ones, at the new size.
      const indices = new Set<number>()
      for (let i = size - n; i < size; i++) indices.add(i)
      for (let i = 0; i < size; i += 37) indices.add(i)
      for (const i of indices) expect(hex(await reader.inclusionProof(i, size)), `index ${i} at ${size}`).toEqual(hex(ref.path(i, size)))
      // Older trees: proofs at each earlier size, after the cache saw larger ones.
      for (const old of sizes) {
        expect(toHex(await reader.rootHash(old))).toBe(toHex(ref.mth(0, old)))
        expect(hex(await reader.consistencyProof(old, size)), `${old} -> ${size}`).toEqual(hex(ref.consistency(old, size)))
        for (const i of [0, old - 1, Math.floor(old / 2)]) {
          expect(hex(await reader.inclusionProof(i, old)), `index ${i} at ${old}`).toEqual(hex(ref.path(i, old)))
        }
      }
    }
    expect(entries.length).toBe(1600)
  })

  it('drops its caches of tiles and bundles only after an interval with no read, and reads them from the store again after', async () => {
    const store = new KvLogStore(new MemoryKv())
    const reader = new LogReader(store)
    const seq = await Sequencer.open({ store, origin: ORIGIN, signer: ed25519Signer(ORIGIN, new Uint8Array(32).fill(5)), maxBatch: 1000, maxDelayMs: 0, reader })
    await Promise.all(Array.from({ length: 600 }, (_, i) => seq.submit(new TextEncoder().encode(`entry ${i}`))))
    let storeReads = 0
    const getTiles = store.getTiles.bind(store)
    store.getTiles = async (refs) => {
      storeReads += refs.length
      return getTiles(refs)
    }
    const bundle = { level: 'entries' as const, index: 1, width: 256 }
    const tile = { level: 0, index: 0, width: 256 }
    const first = [await reader.tile(bundle, 600), await reader.tile(tile, 600)]
    expect(storeReads).toBe(2)
    await reader.tile(bundle, 600)
    await reader.tile(tile, 600)
    expect(storeReads).toBe(2)
    // Reads since the last check: kept; a whole interval without one: dropped.
    expect(reader.releaseIfIdle()).toBe(false)
    await reader.tile(bundle, 600)
    expect(reader.releaseIfIdle()).toBe(false)
    expect(storeReads).toBe(2)
    expect(reader.releaseIfIdle()).toBe(true)
    expect(reader.releaseIfIdle()).toBe(false)
    const again = [await reader.tile(bundle, 600), await reader.tile(tile, 600)]
    expect(storeReads).toBe(4)
    expect(again.map(toHex)).toEqual(first.map(toHex))
    // Proofs after the drop expand the tiles afresh and still match the reference.
    const ref = new RefTree(Array.from({ length: 600 }, (_, i) => refLeafHash(new TextEncoder().encode(`entry ${i}`))))
    expect(hex(await reader.inclusionProof(300, 600))).toEqual(hex(ref.path(300, 600)))
  })
})
