/**
 * The shared revocation vectors and log-order sequences over HTTP, on the
 * log's app with a test clock set to each entry's time: every entry gets
 * the listed verdict as a status and stable code.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeCbor, fromHex, parseEntry } from '../../../src/core/index.ts'
import { makeLog, post } from '../../helpers/log-fixture.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'

const V = loadSharedStatementVectors()
const STATUS: Record<string, number> = { ok: 200, MALFORMED: 400, BAD_SIGNATURE: 403, UNTRUSTED: 403, REVOKED: 403 }
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'actlog-revocations-http-'))
  dirs.push(d)
  return d
}

/** Returns the time an entry claims, or the vectors' now for one that does not parse. */
function timeOf(bytes: Uint8Array): number {
  try {
    const e = parseEntry(bytes)
    return e.kind === 'statement' ? e.statement.statement.time : e.revocation.revocation.time
  } catch {
    return V.now_ms
  }
}

async function verdict(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { code?: string; message?: string }
  return { status: res.status, code: res.status === 200 ? 'ok' : body.code!, message: body.message ?? '' }
}

describe('revocation entries over HTTP', () => {
  for (const v of V.revocations_valid) {
    it(`accepts "${v.name}"`, async () => {
      const entry = fromHex(v.entry_hex)
      const { app } = await makeLog({ issuersFile: V.issuers_file, now: timeOf(entry), revocationsDir: dir() })
      const res = await post(app, entry)
      expect(res.status).toBe(200)
      expect(((await res.json()) as { leafHash: string }).leafHash).toBe(v.leaf_hash_hex)
    })
  }

  for (const v of V.revocations_invalid) {
    it(`refuses "${v.name}" with ${v.wantError}`, async () => {
      const entry = fromHex(v.entry_hex)
      const { app, sequencer } = await makeLog({ issuersFile: V.issuers_file, now: timeOf(entry), revocationsDir: dir() })
      const r = await verdict(await post(app, entry))
      expect(r.code).toBe(v.wantError)
      expect(r.status).toBe(STATUS[v.wantError])
      expect(sequencer.treeSize).toBe(0)
    })
  }

  for (const seq of V.sequences as { name: string; entries_hex: string[]; want: string[] }[]) {
    it(`${seq.name}: ${seq.want.join(', ')}`, async () => {
      const { app, clock, sequencer } = await makeLog({ issuersFile: V.issuers_file, revocationsDir: dir() })
      for (const [i, hex] of seq.entries_hex.entries()) {
        const entry = fromHex(hex)
        clock.now = timeOf(entry)
        const size = sequencer.treeSize
        const r = await verdict(await post(app, entry))
        expect(r.code, `entry ${i}: ${r.message}`).toBe(seq.want[i])
        expect(r.status).toBe(STATUS[seq.want[i]!])
        if (r.code === 'REVOKED') expect(r.message).toMatch(/revoked by log entry \d+/)
        // A refused entry leaves the tree as it was.
        expect(sequencer.treeSize).toBe(size + (r.code === 'ok' ? 1 : 0))
      }
    })
  }

  it('never accepts both a revocation and a statement it revokes, submitted in one batch, with the statement after it', async () => {
    const seq = V.sequences[0] as { entries_hex: string[] }
    const [, rev, late] = seq.entries_hex.map(fromHex)
    for (const order of [[rev!, late!], [late!, rev!]]) {
      const { app } = await makeLog({ issuersFile: V.issuers_file, now: timeOf(rev!), maxSkewMs: 3 * 3_600_000, revocationsDir: dir() })
      const res = await app.request('/add-batch', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: encodeCbor(order) as BodyInit })
      expect(res.status).toBe(200)
      const { results } = (await res.json()) as { results: { index?: number; code?: string }[] }
      const [r, s] = order[0] === rev ? results : [results[1]!, results[0]!]
      expect(r!.index).toBeTypeOf('number')
      // Decided in index order: the statement is sequenced only before the revocation.
      if (s!.code === undefined) expect(s!.index!).toBeLessThan(r!.index!)
      else expect(s!.code).toBe('REVOKED')
    }
  })
})
