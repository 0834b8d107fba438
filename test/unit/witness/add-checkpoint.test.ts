import { describe, expect, it } from 'vitest'
import {
  EMPTY_ROOT,
  MAX_ADD_CHECKPOINT_BODY,
  TLOG_SIZE_CONTENT_TYPE,
  cosignatureTimestamp,
  encodeNote,
  openNote,
  parseCheckpoint,
  parseNote,
  parseVerifierKey,
  toBase64,
  verifierFromKey,
  type NoteSigner,
} from '../../../src/core/index.ts'
import { loadVectors } from '../../helpers/vectors.ts'
import { T0, TestLog, WITNESS_NAME, expectCosigned, makeWitness, post, refusal, snapshot, witnessVerifier } from './fixture.ts'

const ORIGIN = 'log.example.org/actions'

/** A signer that writes a line of the given key name and ID with arbitrary bytes: another algorithm, as far as we know. */
function opaqueSigner(name: string, keyId: number, length: number): NoteSigner {
  return { name, keyId, sign: async () => new Uint8Array(length).fill(0xab) }
}

/** Returns the note with the signature bytes (not the key ID) of line `i` flipped. */
function tamperSignature(note: string, i = 0): string {
  const n = parseNote(note)
  const sig = n.signatures[i]!.signature.slice()
  sig[5] = sig[5]! ^ 1
  n.signatures[i] = { ...n.signatures[i]!, signature: sig }
  return encodeNote(n)
}

function evidenceMetric(text: string, reason: string, origin = ORIGIN): number {
  const m = new RegExp(`actlog_witness_evidence_total\\{origin="${origin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}",reason="${reason}"\\} (\\d+)`).exec(text)
  return m === null ? 0 : Number(m[1])
}

describe('POST /add-checkpoint: 200', () => {
  it('cosigns the first checkpoint of a log (old 0, no proof) and stores it as cosigned', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const cp = await log.checkpoint(10)
    const res = await post(w.app, await log.body(0, 10, { checkpoint: cp }))
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const [sig] = await expectCosigned(res, cp, T0)
    const stored = await w.state.latest(ORIGIN)
    expect(stored?.treeSize).toBe(10)
    expect(toBase64(stored!.rootHash)).toBe(toBase64(log.root(10)))
    // The note as cosigned: the checkpoint, the log's line, then ours.
    const n = parseNote(stored!.note)
    expect(n.text).toBe(parseNote(cp).text)
    expect(n.signatures.map((s) => s.name)).toEqual([ORIGIN, WITNESS_NAME])
    expect(n.signatures[1]).toEqual(sig)
    const opened = await openNote(stored!.note, [log.verifier, witnessVerifier])
    expect(opened.verified.length).toBe(2)
  })

  it('cosigns each consistent extension, across powers of two and tile-sized jumps', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    let old = 0
    for (const n of [1, 2, 3, 4, 8, 9, 16, 17, 100, 255, 256, 257, 300]) {
      w.clock.ms += 1000
      const cp = await log.checkpoint(n)
      await expectCosigned(await post(w.app, await log.body(old, n, { checkpoint: cp })), cp, w.clock.ms)
      expect((await w.state.latest(ORIGIN))?.treeSize).toBe(n)
      old = n
    }
  })

  it('cosigns the same checkpoint again without changing the stored state', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const cp = await log.checkpoint(20)
    await expectCosigned(await post(w.app, await log.body(0, 20, { checkpoint: cp })), cp)
    const before = await snapshot(w.kv)
    w.clock.ms += 60_000
    const [again] = await expectCosigned(await post(w.app, await log.body(20, 20, { checkpoint: cp })), cp, w.clock.ms)
    expect(cosignatureTimestamp(again!.signature)).toBe(Math.floor((T0 + 60_000) / 1000))
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('cosigns and stores an empty tree (size 0, the empty-tree root), then grows from it', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const cp0 = await log.checkpoint(0)
    await expectCosigned(await post(w.app, await log.body(0, 0, { checkpoint: cp0 })), cp0)
    expect((await w.state.latest(ORIGIN))?.treeSize).toBe(0)
    const cp5 = await log.checkpoint(5)
    await expectCosigned(await post(w.app, await log.body(0, 5, { checkpoint: cp5 })), cp5)
    expect((await w.state.latest(ORIGIN))?.treeSize).toBe(5)
  })
})

describe('POST /add-checkpoint: refusals leave the stored state unchanged', () => {
  /** A witness that has cosigned size 10 of ORIGIN. */
  async function at10() {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const other = new TestLog('other.example/log', { seed: 2 })
    const w = makeWitness([log, other])
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    return { log, other, w, before: await snapshot(w.kv) }
  }

  it('400 for malformed bodies', async () => {
    const { log, w, before } = await at10()
    const cp = await log.checkpoint(12)
    const proofLine = toBase64(log.root(3))
    const bodies = [
      '',
      'garbage',
      `old 10\n${cp}`, // no empty line after the proof
      `old 010\n\n${cp}`, // non-canonical decimal
      `old -1\n\n${cp}`,
      `new 10\n\n${cp}`,
      `old 10\nAAAA\n\n${cp}`, // a proof line that is not 32 bytes
      `old 10\n${Array.from({ length: 64 }, () => proofLine).join('\n')}\n\n${cp}`, // 64 proof lines
      `old 10\n\n${cp.slice(0, cp.indexOf('\n\n') + 2)}`, // a note without signatures
      `old 10\n\n${ORIGIN}\n012\n${toBase64(log.root(12))}\n\n${cp.slice(cp.indexOf('\n\n') + 2)}`, // bad size line
      `old 10\n\n${ORIGIN}\n12\nnot-base64\n\n${cp.slice(cp.indexOf('\n\n') + 2)}`,
    ]
    for (const body of bodies) {
      const r = await refusal(await post(w.app, body))
      expect(r.status, JSON.stringify(body)).toBe(400)
    }
    const invalidUtf8 = new Uint8Array([...new TextEncoder().encode('old 0\n\n'), 0xff, 0xfe, 0x0a])
    expect((await refusal(await post(w.app, invalidUtf8))).status).toBe(400)
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('400 when the old size is above the checkpoint size', async () => {
    const { log, w, before } = await at10()
    const r = await refusal(await post(w.app, await log.body(10, 5, { proof: [] })))
    expect(r.status).toBe(400)
    expect(r.text).toContain('old size 10 is larger than the checkpoint size 5')
    expect(await snapshot(w.kv)).toEqual(before)
    expect(await w.state.evidence()).toEqual([])
  })

  it('403 when no signature is by a trusted key (another key, even under the same name)', async () => {
    const { log, w, before } = await at10()
    const impostor = new TestLog(ORIGIN, { seed: 9 }) // same origin and key name, another key
    const r = await refusal(await post(w.app, await impostor.body(10, 12, { proof: log.proof(10, 12) })))
    expect(r.status).toBe(403)
    expect(r.text).toContain('no signature by a key this witness trusts')
    expect(r.text).toContain(log.vkey.split('+').slice(0, 2).join('+'))
    const unsignedish = await log.body(10, 12, { checkpoint: await log.checkpoint(12, { signers: [opaqueSigner('someone.else', 1234, 64)] }) })
    expect((await refusal(await post(w.app, unsignedish))).status).toBe(403)
    expect(await snapshot(w.kv)).toEqual(before)
    expect(await w.state.evidence()).toEqual([])
  })

  it('403 when a line of a trusted key does not verify, even beside a valid one', async () => {
    const { log, w, before } = await at10()
    const bad = tamperSignature(await log.checkpoint(12))
    const r = await refusal(await post(w.app, await log.body(10, 12, { checkpoint: bad })))
    expect(r.status).toBe(403)
    expect(r.text).toContain('does not verify')
    // Two trusted keys (a rotation): the new one verifies, the old one's line is bad.
    const rotated = new TestLog(ORIGIN, { seed: 3 })
    const w2 = makeWitness([{ origin: ORIGIN, verifiers: [log.verifier, rotated.verifier] }])
    const both = await log.checkpoint(7, { extra: [rotated.signer] })
    expect((await refusal(await post(w2.app, await log.body(0, 7, { checkpoint: tamperSignature(both, 0) })))).status).toBe(403)
    expect(await snapshot(w2.kv)).toEqual([])
    // A key ID match with a signature of the wrong length is a failure too, not an unknown line.
    const wrongLength = await log.checkpoint(12, { extra: [opaqueSigner(log.signer.name, log.signer.keyId, 71)] })
    expect((await refusal(await post(w.app, await log.body(10, 12, { checkpoint: wrongLength })))).status).toBe(403)
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('404 for an unknown origin, even signed by a key the witness knows for another log', async () => {
    const { log, w, before } = await at10()
    const stranger = new TestLog('stranger.example/log', { seed: 1, keyName: ORIGIN }) // the known key, another origin
    const r = await refusal(await post(w.app, await stranger.body(0, 4)))
    expect(r.status).toBe(404)
    expect(r.text).toContain('stranger.example/log')
    void log
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('409 with the stored size as text/x.tlog.size when the old size is not the stored size', async () => {
    const { log, other, w, before } = await at10()
    for (const old of [0, 5, 11]) {
      const res = await post(w.app, await log.body(old, 20))
      expect(res.status).toBe(409)
      expect(res.headers.get('content-type')).toBe(TLOG_SIZE_CONTENT_TYPE)
      expect(await res.text()).toBe('10\n')
    }
    // A log never cosigned: the stored size is 0.
    const res = await post(w.app, await other.body(3, 8))
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('0\n')
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('413 for a body above the cap', async () => {
    const { w, before } = await at10()
    const r = await refusal(await post(w.app, `old 0\n\n${'x'.repeat(MAX_ADD_CHECKPOINT_BODY)}`))
    expect(r.status).toBe(413)
    expect(await snapshot(w.kv)).toEqual(before)
  })

  it('422 for a consistency proof that does not verify, and keeps it as evidence', async () => {
    const { log, w, before } = await at10()
    const proof = log.proof(10, 20)
    const flipped = proof.map((h, i) => (i === 0 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h))
    const cases = [flipped, proof.slice(1), [...proof, log.root(1)], log.proof(9, 20), []]
    for (const p of cases) {
      const r = await refusal(await post(w.app, await log.body(10, 20, { proof: p })))
      expect(r.status).toBe(422)
      expect(r.text).toContain('does not verify')
    }
    expect(await snapshot(w.kv)).toEqual(before)
    const kept = await w.state.evidence(ORIGIN)
    expect(kept.map((e) => e.reason)).toEqual(Array(cases.length).fill('bad-proof'))
    expect(kept[0]!.status).toBe(422)
    expect(kept[0]!.timeMs).toBe(w.clock.ms)
    expect(kept[0]!.request).toBe(await log.body(10, 20, { proof: flipped }))
  })

  it('422 for a non-empty proof with old 0', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const r = await refusal(await post(w.app, await log.body(0, 10, { proof: [log.root(2)] })))
    expect(r.status).toBe(422)
    expect(r.text).toContain('old 0 must carry no consistency proof')
    expect(await snapshot(w.kv)).toEqual([])
    expect((await w.state.evidence()).map((e) => e.reason)).toEqual(['bad-proof'])
  })

  it('422 for a size-0 checkpoint whose root is not the empty-tree hash', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const r = await refusal(await post(w.app, await log.body(0, 0, { root: log.root(1) })))
    expect(r.status).toBe(422)
    expect(r.text).toContain(toBase64(EMPTY_ROOT))
    expect(await snapshot(w.kv)).toEqual([])
    expect((await w.state.evidence()).map((e) => e.reason)).toEqual(['bad-empty-root'])
  })

  it('422 for the same size with another root (a split view), kept as evidence', async () => {
    const { log, w, before } = await at10()
    const fork = log.fork('evil')
    const r = await refusal(await post(w.app, await fork.body(10, 10)))
    expect(r.status).toBe(422)
    expect(r.text).toContain('split view')
    expect(await snapshot(w.kv)).toEqual(before)
    const [e] = await w.state.evidence(ORIGIN)
    expect(e?.reason).toBe('split-view')
    expect(e?.request).toBe(await fork.body(10, 10))
  })

  it('422 for the size already cosigned with a non-empty proof', async () => {
    const { log, w, before } = await at10()
    expect((await refusal(await post(w.app, await log.body(10, 10, { proof: [log.root(10)] })))).status).toBe(422)
    expect(await snapshot(w.kv)).toEqual(before)
  })
})

describe('POST /add-checkpoint: order of checks', () => {
  it('origin before signatures, signatures before sizes, sizes before proofs', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    // Unknown origin and no trusted signature: 404.
    const stranger = new TestLog('stranger.example/log', { seed: 5 })
    expect((await post(w.app, await stranger.body(0, 3))).status).toBe(404)
    // Bad signature and old above size: 403.
    const bad = tamperSignature(await log.checkpoint(5))
    expect((await post(w.app, await log.body(10, 5, { checkpoint: bad, proof: [] }))).status).toBe(403)
    // Old above size and old different from the stored size: 400.
    expect((await post(w.app, await log.body(11, 5, { proof: [] }))).status).toBe(400)
    // Old different from stored and a bad proof: 409 (the client resyncs first).
    expect((await post(w.app, await log.body(4, 20, { proof: [log.root(1)] }))).status).toBe(409)
    // Old 0 with a proof on a fresh log, and a size-0 bad root: 422 either way.
    const fresh = makeWitness([log])
    expect((await post(fresh.app, await log.body(0, 0, { root: log.root(1), proof: [log.root(1)] }))).status).toBe(422)
  })
})

describe('split views and rollbacks are kept as evidence', () => {
  it('refuses a same-size other root and a larger inconsistent checkpoint from the same key, keeping both', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    await expectCosigned(await post(w.app, await log.body(0, 100)), await log.checkpoint(100))
    const before = await snapshot(w.kv)
    const fork = log.fork('partitioned')
    // Same size, another root: the fork's key is the log's key.
    expect((await post(w.app, await fork.body(100, 100))).status).toBe(422)
    // A larger tree of the fork, with the fork's own (valid for the fork) proof from 100.
    expect((await post(w.app, await fork.body(100, 200))).status).toBe(422)
    expect(await snapshot(w.kv)).toEqual(before)
    expect((await w.state.evidence(ORIGIN)).map((e) => e.reason)).toEqual(['split-view', 'bad-proof'])
    // And the honest log goes on.
    await expectCosigned(await post(w.app, await log.body(100, 200)), await log.checkpoint(200))
    const metrics = await (await w.app.request('/metrics')).text()
    expect(evidenceMetric(metrics, 'split-view')).toBe(1)
    expect(evidenceMetric(metrics, 'bad-proof')).toBe(1)
  })

  it('keeps a signed checkpoint smaller than the cosigned one (rollback) and a same-size fork sent with a stale old size', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    await expectCosigned(await post(w.app, await log.body(0, 50)), await log.checkpoint(50))
    const res = await post(w.app, await log.body(0, 40))
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('50\n')
    const fork = log.fork('restored-from-backup')
    expect((await post(w.app, await fork.body(0, 50))).status).toBe(409)
    // Out of date but consistent requests are not evidence.
    expect((await post(w.app, await log.body(0, 60))).status).toBe(409)
    expect((await w.state.evidence()).map((e) => [e.reason, e.status])).toEqual([
      ['rollback', 409],
      ['split-view', 409],
    ])
    expect(evidenceMetric(await (await w.app.request('/metrics')).text(), 'rollback')).toBe(1)
  })
})

describe('witnessing logs actlog did not make', () => {
  const notes = loadVectors('signed-note.json').vectors as { name: string; input: { vkey: string; note: string }; want: { treeSize: number } }[]
  const sum1 = notes.find((v) => v.name === 'checkpoint/sum.golang.org/1514086')!
  const sum2 = notes.find((v) => v.name === 'checkpoint/sum.golang.org/15081221')!
  const c2sp = loadVectors('c2sp-examples.json').vectors as { name: string; input: { logVkey: string; note: string } }[]
  const arche = c2sp.find((v) => v.name === 'cosigned-checkpoint/arche2025h1+remora')!
  const GO = 'go.sum database tree'
  const goLog = { origin: GO, verifiers: [verifierFromKey(parseVerifierKey(sum1.input.vkey))] }

  it('cosigns real sum.golang.org checkpoints (origin "go.sum database tree", key sum.golang.org)', async () => {
    const w = makeWitness([goLog])
    await expectCosigned(await post(w.app, `old 0\n\n${sum1.input.note}`), sum1.input.note)
    const stored = await w.state.latest(GO)
    expect(stored?.treeSize).toBe(1514086)
    expect(parseNote(stored!.note).signatures.map((s) => s.name)).toEqual(['sum.golang.org', WITNESS_NAME])
    // No proof is known between the two real checkpoints: an empty one does not verify.
    expect((await post(w.app, `old 1514086\n\n${sum2.input.note}`)).status).toBe(422)
    const res = await post(w.app, `old 0\n\n${sum2.input.note}`)
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('1514086\n')
  })

  it('ignores the lines of unknown keys (another witness) and does not keep them', async () => {
    const w = makeWitness([goLog])
    await expectCosigned(await post(w.app, `old 0\n\n${sum2.input.note}`), sum2.input.note)
    const stored = parseNote((await w.state.latest(GO))!.note)
    expect(stored.signatures.map((s) => s.name)).toEqual(['sum.golang.org', WITNESS_NAME])
  })

  it('cosigns the real arche2025h1 checkpoint, ignoring its ECDSA line and other witnesses', async () => {
    const origin = 'arche2025h1.staging.ct.transparency.dev'
    const w = makeWitness([{ origin, verifiers: [verifierFromKey(parseVerifierKey(arche.input.logVkey))] }])
    await expectCosigned(await post(w.app, `old 0\n\n${arche.input.note}`), arche.input.note)
    const stored = (await w.state.latest(origin))!
    expect(stored.treeSize).toBe(1432088532)
    const sigs = parseNote(stored.note).signatures
    expect(sigs.map((s) => `${s.name}+${s.keyId.toString(16).padStart(8, '0')}`)).toEqual([
      'arche2025h1.staging.ct.transparency.dev+ba2f06c0',
      `${WITNESS_NAME}+${witnessVerifier.keyId.toString(16).padStart(8, '0')}`,
    ])
    expect(parseCheckpoint(parseNote(stored.note).text).treeSize).toBe(1432088532)
  })

  it('witnesses a log whose key name is unlike its origin, ignoring an extra line of another algorithm', async () => {
    const log = new TestLog('example.org/forest', { seed: 4, keyName: 'forest-signing-key-2026' })
    const w = makeWitness([log])
    // The same key name with another key ID (e.g. an ECDSA key of the same log), and an unknown signer.
    const extra = [opaqueSigner('forest-signing-key-2026', (log.signer.keyId ^ 0xffff) >>> 0, 71), opaqueSigner('ml-dsa.example/w', 42, 2420)]
    const cp = await log.checkpoint(30, { extra })
    await expectCosigned(await post(w.app, await log.body(0, 30, { checkpoint: cp })), cp)
    const cp2 = await log.checkpoint(64, { extra })
    await expectCosigned(await post(w.app, await log.body(30, 64, { checkpoint: cp2 })), cp2)
    expect(parseNote((await w.state.latest('example.org/forest'))!.note).signatures.map((s) => s.name)).toEqual(['forest-signing-key-2026', WITNESS_NAME])
  })

  it('accepts a checkpoint signed by either key of a log during a key rotation', async () => {
    const oldKey = new TestLog(ORIGIN, { seed: 1 })
    const newKey = new TestLog(ORIGIN, { seed: 2 })
    const w = makeWitness([{ origin: ORIGIN, verifiers: [oldKey.verifier, newKey.verifier] }])
    await expectCosigned(await post(w.app, await oldKey.body(0, 10)), await oldKey.checkpoint(10))
    const cp = await newKey.checkpoint(20, { root: oldKey.root(20) })
    await expectCosigned(await post(w.app, await oldKey.body(10, 20, { checkpoint: cp })), cp)
  })
})

describe('other endpoints', () => {
  it('answers 405 to other methods on /add-checkpoint and 404 elsewhere', async () => {
    const w = makeWitness([new TestLog(ORIGIN, { seed: 1 })])
    const r = await w.app.request('/add-checkpoint')
    expect(r.status).toBe(405)
    expect(r.headers.get('allow')).toBe('POST')
    expect((await refusal(await w.app.request('/nothing/here'))).status).toBe(404)
  })

  it('serves /healthz and /metrics with responses, cosignatures and the tree size per origin', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    expect(await (await w.app.request('/healthz')).json()).toEqual({ status: 'ok', logs: 1 })
    await post(w.app, await log.body(0, 42))
    await post(w.app, await log.body(0, 42))
    const res = await w.app.request('/metrics')
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await res.text()
    expect(text).toContain(`actlog_witness_cosignatures_total{origin="${ORIGIN}"} 1`)
    expect(text).toContain(`actlog_witness_tree_size{origin="${ORIGIN}"} 42`)
    expect(text).toContain('actlog_witness_http_responses_total{status="200"}')
    expect(text).toContain('actlog_witness_http_responses_total{status="409"} 1')
  })
})
