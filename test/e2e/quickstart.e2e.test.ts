/**
 * The README's quick start, as a new user runs it: `actlog start` (what
 * `npm start` runs) in an empty directory, then the exact commands it
 * prints, then Ctrl-C.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/local-network.ts'
import { ACTLOG, removeDir, tempDir } from '../helpers/processes.ts'

const sh = promisify(execFile)
const cwd = tempDir('actlog-quickstart-')

async function threeFreePorts(): Promise<number> {
  for (;;) {
    const p = await freePort()
    if (p > 65000) continue
    const { createServer } = await import('node:net')
    const ok = await Promise.all(
      [p + 1, p + 2].map(
        (q) =>
          new Promise<boolean>((resolve) => {
            const s = createServer()
            s.once('error', () => resolve(false))
            s.listen(q, '127.0.0.1', () => s.close(() => resolve(true)))
          }),
      ),
    )
    if (ok.every(Boolean)) return p
  }
}

afterAll(() => removeDir(cwd))

describe('quick start', () => {
  it('starts a log and two witnesses, prints commands that work as printed, and stops on Ctrl-C', async () => {
    const port = await threeFreePorts()
    const env = { ...process.env }
    for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_']) delete env[k]
    const proc = spawn(process.execPath, [ACTLOG, 'start', '--port', String(port)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout.on('data', (d) => (out += d))
    proc.stderr.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
    try {
      const end = Date.now() + 60_000
      while (!out.includes('Press Ctrl-C') && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      expect(out, out).toContain('Press Ctrl-C')
      expect(out).toContain(`http://127.0.0.1:${port}`)
      expect(existsSync(join(cwd, 'data', 'policy.txt'))).toBe(true)
      // The three servers run with the malloc settings the README gives operators.
      const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim().split(/\s+/)
      expect(children).toHaveLength(3)
      for (const pid of children) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
        expect(environ).toContain('MALLOC_ARENA_MAX=2')
        expect(environ).toContain('MALLOC_MMAP_THRESHOLD_=32768')
      }
      const commands = out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('node '))
      expect(commands.map((c) => c.split(' ')[2])).toEqual(['submit', 'verify', 'demo'])
      const run = async (cmd: string) => sh('/bin/sh', ['-c', cmd], { cwd, timeout: 120_000 })
      const submitted = await run(commands[0]!)
      expect(submitted.stdout).toMatch(/logged at index 0/)
      const verified = await run(commands[1]!)
      expect(verified.stdout).toMatch(/^VALID/)
      expect(verified.stdout).toMatch(/witnessed +by W1 and W2/)
      const demo = await run(`${commands[2]!} --count 20`)
      expect(demo.stdout).toMatch(/submitted 20 actions/)
      // The demo retires one agent: its next action is refused, naming the revocation.
      expect(demo.stdout).toMatch(/revoked spiffe:\/\/acme\.example\/agents\/legacy-reporter at index (\d+); its next action was refused: .*revoked by log entry \1/)
    } finally {
      proc.kill('SIGINT')
    }
    expect(await exited).toBe(0)
    expect(out).toContain('stopped')
    // The three processes are gone: the ports are free again.
    for (const p of [port, port + 1, port + 2]) {
      const { createServer } = await import('node:net')
      await new Promise<void>((resolve, reject) => {
        const s = createServer()
        s.once('error', reject)
        s.listen(p, '127.0.0.1', () => s.close(() => resolve()))
      })
    }
  })
})
