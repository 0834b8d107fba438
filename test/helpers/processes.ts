/** Spawns real actlog processes (log, witness) for end-to-end tests, on free ports in temp directories. */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ACTLOG = fileURLToPath(new URL('../../src/cli/actlog.js', import.meta.url))

export function tempDir(prefix = 'actlog-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** A running actlog child process. */
export interface Proc {
  proc: ChildProcess
  url: string
  output: () => string
  /** Sends SIGKILL and waits for the exit. */
  kill9: () => Promise<void>
  /** Sends SIGTERM and waits for a clean exit. */
  stop: () => Promise<number | null>
}

/**
 * Runs `actlog <args>` and waits until it prints `serving <url>`. Rejects
 * with the process output if it exits first or takes longer than 30 s.
 */
export function startActlog(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Proc> {
  const proc = spawn(process.execPath, [ACTLOG, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`actlog ${args.join(' ')} did not start in 30 s:\n${out}`))
    }, 30_000)
    const onData = (): void => {
      const m = /serving (http:\/\/\S+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      proc.stdout!.off('data', onData)
      resolve({
        proc,
        url: m[1]!,
        output: () => out,
        kill9: async () => {
          proc.kill('SIGKILL')
          await exited
        },
        stop: async () => {
          proc.kill('SIGTERM')
          return exited
        },
      })
    }
    proc.stdout!.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`actlog ${args.join(' ')} exited with ${code} before serving:\n${out}`))
    })
  })
}

/** Runs `actlog <args>` to completion and returns its exit code and output. */
export function runActlog(args: string[], opts: { cwd?: string; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [ACTLOG, ...args], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d) => (stdout += d))
  proc.stderr.on('data', (d) => (stderr += d))
  proc.stdin.end(opts.input ?? '')
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stdout, stderr })))
}

/** Writes a JSON file. */
export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2))
}
