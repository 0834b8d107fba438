import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SIG_TYPE_COSIGNATURE_V1, encodeVerifierKey, publicKeyFromSeed } from '../../../src/core/index.ts'
import { WITNESS_CONFIG_DEFAULTS, loadWitnessConfig } from '../../../witness/config.ts'
import { TestLog } from './fixture.ts'

const dir = mkdtempSync(join(tmpdir(), 'actlog-witness-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const SUM_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8'
const log = new TestLog('log.example.org/actions', { seed: 1 })

function valid(): Record<string, unknown> {
  return {
    name: 'witness.example.org/w1',
    keyFile: 'witness.key',
    dataDir: 'data',
    listen: '127.0.0.1:0',
    logs: [
      { origin: 'go.sum database tree', vkeys: [SUM_VKEY] },
      { origin: log.origin, vkeys: [log.vkey] },
    ],
  }
}

let n = 0
function load(cfg: unknown): ReturnType<typeof loadWitnessConfig> {
  const file = join(dir, `c${n++}.json`)
  writeFileSync(file, typeof cfg === 'string' ? cfg : JSON.stringify(cfg))
  return loadWitnessConfig(file)
}

function rejects(cfg: unknown, field: string | RegExp): void {
  let err: unknown
  try {
    load(cfg)
  } catch (e) {
    err = e
  }
  expect(err, JSON.stringify(cfg)).toBeInstanceOf(TypeError)
  if (typeof field === 'string') expect((err as Error).message).toContain(`"${field}"`)
  else expect((err as Error).message).toMatch(field)
}

describe('loadWitnessConfig', () => {
  it('reads a valid file: paths relative to it, vkeys parsed, default limits', () => {
    const c = load(valid())
    expect(c.name).toBe('witness.example.org/w1')
    expect(c.keyFile).toBe(join(dir, 'witness.key'))
    expect(c.dataDir).toBe(join(dir, 'data'))
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 0 })
    expect(c.logs.map((l) => l.origin)).toEqual(['go.sum database tree', log.origin])
    expect(c.logs[0]!.vkeys[0]!.name).toBe('sum.golang.org')
    expect(c.limits).toEqual({ evidencePerLog: WITNESS_CONFIG_DEFAULTS.evidencePerLog, evidenceBytes: WITNESS_CONFIG_DEFAULTS.evidenceBytes })
    const v6 = load({ ...valid(), listen: '[::1]:7380', dataDir: '/abs/data', limits: { evidencePerLog: 5, evidenceBytes: 2 * 1024 * 1024 } })
    expect(v6.listen).toEqual({ host: '::1', port: 7380 })
    expect(v6.dataDir).toBe('/abs/data')
    expect(v6.limits).toEqual({ evidencePerLog: 5, evidenceBytes: 2 * 1024 * 1024 })
  })

  it('names the field of every mistake', () => {
    const witnessVkey = encodeVerifierKey('w', SIG_TYPE_COSIGNATURE_V1, publicKeyFromSeed(new Uint8Array(32).fill(3)))
    rejects('{not json', /cannot read the witness configuration/)
    rejects('[]', /must hold a JSON object/)
    rejects({ ...valid(), extra: 1 }, 'extra')
    rejects({ ...valid(), name: '' }, 'name')
    rejects({ ...valid(), name: 'has space' }, 'name')
    rejects({ ...valid(), name: 'a+b' }, 'name')
    rejects({ ...valid(), keyFile: 3 }, 'keyFile')
    rejects({ ...valid(), dataDir: undefined }, 'dataDir')
    rejects({ ...valid(), listen: 'localhost' }, 'listen')
    rejects({ ...valid(), listen: '127.0.0.1:70000' }, 'listen')
    rejects({ ...valid(), logs: [] }, 'logs')
    rejects({ ...valid(), logs: 'x' }, 'logs')
    rejects({ ...valid(), logs: [null] }, 'logs[0]')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [SUM_VKEY], key: 1 }] }, 'logs[0].key')
    rejects({ ...valid(), logs: [{ origin: '', vkeys: [SUM_VKEY] }] }, 'logs[0].origin')
    rejects({ ...valid(), logs: [{ origin: 'a\nb', vkeys: [SUM_VKEY] }] }, 'logs[0].origin')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [SUM_VKEY] }, { origin: 'a', vkeys: [log.vkey] }] }, 'logs[1].origin')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [] }] }, 'logs[0].vkeys')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [7] }] }, 'logs[0].vkeys[0]')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [SUM_VKEY, 'sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8'] }] }, 'logs[0].vkeys[1]')
    rejects({ ...valid(), logs: [{ origin: 'a', vkeys: [witnessVkey] }] }, 'logs[0].vkeys[0]')
    rejects({ ...valid(), limits: [] }, 'limits')
    rejects({ ...valid(), limits: { evidencePerLog: -1 } }, 'limits.evidencePerLog')
    rejects({ ...valid(), limits: { evidencePerLog: 1.5 } }, 'limits.evidencePerLog')
    rejects({ ...valid(), limits: { evidenceBytes: 1000 } }, 'limits.evidenceBytes')
    rejects({ ...valid(), limits: { other: 1 } }, 'limits.other')
  })
})
