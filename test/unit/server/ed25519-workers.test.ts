/** The worker-thread verifier behind core's Ed25519 rule gives the same verdicts as WebCrypto and noble, in batches of any size. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { ed25519Implementation, fromHex, generateSeed, publicKeyFromSeed, sign, usePlatformEd25519, verify, verifyBatch, verifyNoble } from '../../../src/core/index.ts'
import { Ed25519Workers } from '../../../src/server/ed25519-workers.ts'
import { loadVectors } from '../../helpers/vectors.ts'

type Vectors = { vectors: { name: string; input: { publicKeyHex: string; messageHex: string; signatureHex: string }; want: { valid: boolean } }[] }

const pool = new Ed25519Workers(2)
function keyPair(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = generateSeed()
  return { privateKey, publicKey: publicKeyFromSeed(privateKey) }
}
afterAll(async () => {
  usePlatformEd25519(undefined)
  await pool.close()
})

describe('Ed25519 on worker threads behind the rule', () => {
  it('is what verify uses once installed', async () => {
    usePlatformEd25519(pool)
    expect(await ed25519Implementation()).toBe('node:crypto (worker threads)')
  })

  for (const file of ['rfc8032-ed25519.json', 'ed25519-edge-cases.json']) {
    it(`agrees with every vector of ${file}, checked one by one and all at once`, async () => {
      usePlatformEd25519(pool)
      const f = loadVectors<Vectors>(file)
      const inputs = f.vectors.map((v) => [fromHex(v.input.publicKeyHex), fromHex(v.input.messageHex), fromHex(v.input.signatureHex)] as const)
      for (const [i, v] of f.vectors.entries()) {
        const [pub, msg, sig] = inputs[i]!
        expect(await verify(pub, msg, sig), v.name).toBe(v.want.valid)
        expect(verifyNoble(pub, msg, sig), v.name).toBe(v.want.valid)
      }
      const together = await Promise.all(inputs.map(([pub, msg, sig]) => verify(pub, msg, sig)))
      expect(together).toEqual(f.vectors.map((v) => v.want.valid))
      // verifyBatch hands the pool the whole batch (verifyMany) after the rule's checks.
      const batch = await verifyBatch(inputs.map(([publicKey, message, signature]) => ({ publicKey, message, signature })))
      expect(batch).toEqual(f.vectors.map((v) => v.want.valid))
    })
  }

  it('answers each call of a burst larger than one batch with its own verdict', async () => {
    const keys = Array.from({ length: 3 }, () => keyPair())
    const calls = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const k = keys[i % keys.length]!
        const msg = new TextEncoder().encode(`statement ${i} ${'x'.repeat(i % 97)}`)
        const sig = await sign(k.privateKey, msg)
        // Every seventh call carries a signature of another message, every eleventh one by another key.
        if (i % 7 === 0) return { pub: k.publicKey, msg, sig: await sign(k.privateKey, new TextEncoder().encode('other')), want: false }
        if (i % 11 === 0) return { pub: keys[(i + 1) % keys.length]!.publicKey, msg, sig, want: false }
        return { pub: k.publicKey, msg, sig, want: true }
      }),
    )
    const got = await Promise.all(calls.map((c) => pool.verify(c.pub, c.msg, c.sig)))
    expect(got).toEqual(calls.map((c) => c.want))
    expect(got.filter((x) => !x).length).toBeGreaterThan(0)
    // The same burst as one verifyMany: slices go to both workers and come back in order.
    const many = await pool.verifyMany(calls.map((c) => ({ publicKey: c.pub, message: c.msg, signature: c.sig })))
    expect([...many].map((x) => x === 1)).toEqual(calls.map((c) => c.want))
  })

  it('needs the rule in front of it: OpenSSL alone accepts edge cases the rule refuses', async () => {
    const f = loadVectors<Vectors>('ed25519-edge-cases.json')
    const raw = await Promise.all(
      f.vectors.filter((x) => !x.want.valid).map((v) => pool.verify(fromHex(v.input.publicKeyHex), fromHex(v.input.messageHex), fromHex(v.input.signatureHex))),
    )
    expect(raw.filter((x) => x).length).toBeGreaterThan(0)
  })

  it('refuses a key Node cannot load without failing the calls beside it', async () => {
    const k = keyPair()
    const msg = new Uint8Array([1, 2, 3])
    const sig = await sign(k.privateKey, msg)
    const [bad, good] = await Promise.all([pool.verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64)), pool.verify(k.publicKey, msg, sig)])
    expect(bad).toBe(false)
    expect(good).toBe(true)
  })

  it('makes verifyBatch fail, not answer "invalid", when the batch verifier fails', async () => {
    const k = keyPair()
    const msg = new TextEncoder().encode('m')
    const items = [{ publicKey: k.publicKey, message: msg, signature: await sign(k.privateKey, msg) }]
    usePlatformEd25519({ name: 'failing', verify: async () => true, verifyMany: async () => Promise.reject(new Error('worker died')) })
    try {
      await expect(verifyBatch(items)).rejects.toThrow(/verifier failed/)
    } finally {
      usePlatformEd25519(pool)
    }
    expect(await verifyBatch(items)).toEqual([true])
  })

  it('fails calls after close instead of hanging', async () => {
    const own = new Ed25519Workers(1)
    const k = keyPair()
    const sig = await sign(k.privateKey, new Uint8Array(0))
    expect(await own.verify(k.publicKey, new Uint8Array(0), sig)).toBe(true)
    await own.close()
    await expect(own.verify(k.publicKey, new Uint8Array(0), sig)).rejects.toThrow(/closed/)
    await expect(own.verifyMany([{ publicKey: k.publicKey, message: new Uint8Array(0), signature: sig }])).rejects.toThrow(/closed/)
  })

  it('keeps a process alive while it owes a verdict, and never once idle', async () => {
    // A script whose only pending work is a verification: it must print the
    // verdict (an unreferenced worker would let Node exit first, code 13),
    // then exit by itself although the pool's threads still exist.
    const module = fileURLToPath(new URL('../../../src/server/ed25519-workers.ts', import.meta.url))
    const script = `
      const { ed25519Workers } = await import(${JSON.stringify(module)})
      const { generateKeyPairSync, sign } = await import('node:crypto')
      const { publicKey, privateKey } = generateKeyPairSync('ed25519')
      const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(12)
      const msg = Buffer.from('m')
      console.log(await ed25519Workers().verify(pub, msg, sign(null, msg, privateKey)))
    `
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 }, () => {})
      let stdout = ''
      child.stdout!.on('data', (d) => (stdout += String(d)))
      child.on('exit', (code) => resolve({ code, stdout }))
    })
    expect(out).toEqual({ code: 0, stdout: 'true\n' })
  })
})
