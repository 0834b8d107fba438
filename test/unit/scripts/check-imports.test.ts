import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkImports } from '../../../scripts/check-imports.ts'

// A test may build several trees; each is removed after it.
const roots: string[] = []

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'actlog-imports-'))
  roots.push(root)
  for (const [p, src] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true })
    writeFileSync(join(root, p), src)
  }
  return root
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

describe('check-imports', () => {
  it('passes on this repository', () => {
    expect(checkImports(join(import.meta.dirname, '..', '..', '..'))).toEqual([])
  })

  it('fails on a Node import in core', () => {
    const p = checkImports(tree({ 'src/core/bad.ts': "import { readFileSync } from 'node:fs'\n" }))
    expect(p).toHaveLength(1)
    expect(p[0]).toMatch(/core must not import the Node built-in node:fs/)
    expect(checkImports(tree({ 'src/verify/bad.ts': "import fs from 'fs'\n" }))[0]).toMatch(/verify must not import the Node built-in fs/)
  })

  it('fails on imports against the arrows and on second owners of a dependency', () => {
    const p = checkImports(
      tree({
        'src/core/a.ts': "import { x } from '../verify/v.ts'\n",
        'src/verify/v.ts': "export const x = 1\nimport { y } from '../storage/level.ts'\n",
        'src/storage/level.ts': "import { Level } from 'level'\nexport const y = 1\n",
        'src/storage/memory.ts': "import { Level } from 'level'\n",
        'src/core/other.ts': "import { encode } from 'cbor-x'\n",
        'src/server/app.ts': "import { serve } from '@hono/node-server'\nimport { main } from '../cli/main.ts'\n",
        'src/cli/main.ts': "import { a } from '../server/app.ts'\nexport const main = 1\n",
        'src/core/index.ts': "export * from './a.ts'\n",
        'src/audit/a.ts': "import { x } from '../server/main.ts'\n",
      }),
    )
    const text = p.join('\n')
    expect(text).toMatch(/src\/core\/a.ts: core may not import verify/)
    expect(text).toMatch(/src\/verify\/v.ts: verify may not import storage/)
    expect(text).toMatch(/src\/storage\/memory.ts: only its owner may import level/)
    expect(text).toMatch(/src\/core\/other.ts: only its owner may import cbor-x/)
    expect(text).toMatch(/src\/server\/app.ts: only its owner may import @hono\/node-server/)
    expect(text).toMatch(/src\/server\/app.ts: nothing may import cli\//)
    expect(text).toMatch(/src\/cli\/main.ts: the CLI may import only the main.ts of server\//)
    expect(text).toMatch(/src\/core\/index.ts: index files list exports by name/)
    expect(text).toMatch(/src\/audit\/a.ts: audit may not import server/)
    expect(p).toHaveLength(9)
  })

  it('sees multi-line and dynamic imports but not commented ones', () => {
    const p = checkImports(
      tree({
        'src/core/a.ts': "import {\n  a,\n  b,\n} from 'node:path'\nconst m = await import('node:os')\n// import x from 'node:fs'\n/* import y from 'node:net' */\n",
      }),
    )
    expect(p).toHaveLength(2)
  })
})
