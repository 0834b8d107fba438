/** The README's configuration examples are real: each loads with the code that reads them. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadLogConfig } from '../../../src/server/config.ts'
import { loadWitnessConfig } from '../../../witness/main.ts'

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

function example(name: string): string {
  const m = new RegExp(`<!-- readme-test:${name} -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(readme)
  if (m === null) throw new Error(`README.md has no example ${name}`)
  return m[1]!
}

describe('README examples', () => {
  it('the log configuration loads, with every setting the table explains', () => {
    const dir = mkdtempSync(join(tmpdir(), 'actlog-readme-'))
    try {
      writeFileSync(join(dir, 'log.json'), example('log-config'))
      const cfg = loadLogConfig(join(dir, 'log.json'))
      expect(cfg.origin).toBe('log.example.org/actions')
      expect(cfg.listen).toEqual({ host: '127.0.0.1', port: 8080 })
      expect(cfg.dataDir).toBe(join(dir, 'log-data'))
      for (const key of Object.keys(JSON.parse(example('log-config')) as object)) expect(readme).toContain(`| \`${key}`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the witness configuration loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'actlog-readme-'))
    try {
      writeFileSync(join(dir, 'witness.json'), example('witness-config'))
      const cfg = loadWitnessConfig(join(dir, 'witness.json'))
      expect(cfg.name).toBe('witness.example.org/w1')
      expect(cfg.logs.map((l) => l.origin)).toEqual(['log.example.org/actions', 'go.sum database tree'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('gives npm test as the test command', () => {
    expect(readme).toMatch(/```sh\nnpm ci\nnpm test\n```/)
  })
})
