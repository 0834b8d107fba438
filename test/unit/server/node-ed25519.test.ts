/** Node's crypto.verify behind core's Ed25519 rule gives the same verdicts as WebCrypto and noble, edge cases included. */
import { afterAll, describe, expect, it } from 'vitest'
import { ed25519Implementation, fromHex, usePlatformEd25519, verify, verifyNoble } from '../../../src/core/index.ts'
import { nodeEd25519 } from '../../../src/server/node-ed25519.ts'
import { loadVectors } from '../../helpers/vectors.ts'

afterAll(() => usePlatformEd25519(undefined))

describe('node:crypto Ed25519 behind the rule', () => {
  it('is what verify uses once installed', async () => {
    usePlatformEd25519(nodeEd25519)
    expect(await ed25519Implementation()).toBe('node:crypto')
  })

  for (const file of ['rfc8032-ed25519.json', 'ed25519-edge-cases.json']) {
    it(`agrees with every vector of ${file}`, async () => {
      usePlatformEd25519(nodeEd25519)
      const f = loadVectors<{ vectors: { name: string; input: { publicKeyHex: string; messageHex: string; signatureHex: string }; want: { valid: boolean } }[] }>(file)
      for (const v of f.vectors) {
        const [pub, msg, sig] = [fromHex(v.input.publicKeyHex), fromHex(v.input.messageHex), fromHex(v.input.signatureHex)]
        expect(await verify(pub, msg, sig), v.name).toBe(v.want.valid)
        expect(verifyNoble(pub, msg, sig), v.name).toBe(v.want.valid)
      }
    })
  }

  it('needs the rule in front of it: OpenSSL alone accepts edge cases the rule refuses', async () => {
    const f = loadVectors<{ vectors: { input: { publicKeyHex: string; messageHex: string; signatureHex: string }; want: { valid: boolean } }[] }>('ed25519-edge-cases.json')
    let acceptedRaw = 0
    for (const v of f.vectors.filter((x) => !x.want.valid)) {
      if (await nodeEd25519.verify(fromHex(v.input.publicKeyHex), fromHex(v.input.messageHex), fromHex(v.input.signatureHex))) acceptedRaw++
    }
    expect(acceptedRaw).toBeGreaterThan(0)
  })

  it('refuses a key Node cannot load without throwing', async () => {
    expect(await nodeEd25519.verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false)
  })
})
