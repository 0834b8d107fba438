/** docs/threat-model.md cites code and tests: each cited file exists, and each cited test (or vector) name is in it. */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SHARED_STATEMENT_VECTORS } from '../../helpers/vectors.ts'

const root = new URL('../../../', import.meta.url)
const doc = readFileSync(new URL('docs/threat-model.md', root), 'utf8')
const vectors = readFileSync(SHARED_STATEMENT_VECTORS, 'utf8')

describe('docs/threat-model.md', () => {
  it('cites only files that exist', () => {
    const files = [...doc.matchAll(/`((?:src|test|witness)\/[^` ]+)`/g)].map((m) => m[1]!)
    expect(files.length).toBeGreaterThan(15)
    for (const f of files) expect(existsSync(new URL(f, root)), f).toBe(true)
  })

  it('cites only tests that exist, by name', () => {
    let cited = 0
    for (const m of doc.matchAll(/`(test\/[^`]+)`\s*\(([^)]*)\)/g)) {
      const text = readFileSync(new URL(m[1]!, root), 'utf8')
      for (const q of m[2]!.matchAll(/"([^"]+)"/g)) {
        cited++
        expect(text.includes(q[1]!) || vectors.includes(`"${q[1]!}"`), `${m[1]}: ${q[1]}`).toBe(true)
      }
    }
    for (const m of doc.matchAll(/`(test\/[^`]+)`\s*\n?\s*"([^"]+)"/g)) {
      cited++
      expect(readFileSync(new URL(m[1]!, root), 'utf8').includes(m[2]!), `${m[1]}: ${m[2]}`).toBe(true)
    }
    expect(cited).toBeGreaterThan(15)
  })
})
