/**
 * A log and two witnesses as real processes in a temporary directory, for
 * the benchmark and the soak scripts: keys, configurations, a 2-of-2 policy.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, procStatusBytes } from './proc.ts'
import { serverEnv } from '../src/server/main.ts'
import { SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, encodeSignerKey, encodeVerifierKey, publicKeyFromSeed, sha256, utf8 } from '../src/core/index.ts'

export const ACTLOG = fileURLToPath(new URL('../src/cli/actlog.js', import.meta.url))
export const NET_ORIGIN = 'bench.example/actlog'
export const NET_LOG_SEED = sha256(utf8('bench log key'))

/** A running child process that printed `serving <url>`. */
export interface Child {
  proc: ChildProcess
  url: string
  /** Its peak resident set size so far, in bytes (Linux /proc). */
  peakRss(): number
  /** Its resident set size now, in bytes. */
  rss(): number
  /** Starts peakRss over from the current size (Linux clear_refs 5); false when not permitted. */
  resetPeak(): boolean
  stop(): Promise<void>
}

/** Spawns `node <script> <args>` and waits for `serving <url>` on stdout. */
export function launch(script: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Child> {
  // As `actlog start` runs its servers, so the figures are those of a log run as the README says.
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...serverEnv(), ...env } })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} ${args.join(' ')} did not start:\n${out}`)), 60_000)
    const check = (): void => {
      const m = /serving (http:\/\/\S+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      proc.stdout!.off('data', check)
      resolve({
        proc,
        url: m[1]!,
        peakRss: () => procStatusBytes(proc.pid, 'VmHWM') ?? NaN,
        rss: () => procStatusBytes(proc.pid, 'VmRSS') ?? NaN,
        resetPeak: () => {
          try {
            writeFileSync(`/proc/${proc.pid}/clear_refs`, '5')
            return true
          } catch {
            return false
          }
        },
        stop: async () => {
          proc.kill('SIGTERM')
          await exited
        },
      })
    }
    proc.stdout!.on('data', check)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`${script} exited before serving:\n${out}`))
    })
  })
}

/** Writes keys, configs and a policy for a log with two witnesses under `dir`; returns the paths. */
export async function writeNetwork(dir: string, issuersFile: string, log: Record<string, unknown> = {}): Promise<{ logConfig: string; witnessConfigs: string[]; policy: string; issuers: string }> {
  mkdirSync(dir, { recursive: true })
  const ports = [await freePort(), await freePort()]
  writeFileSync(join(dir, 'log.key'), encodeSignerKey(NET_ORIGIN, SIG_TYPE_ED25519, NET_LOG_SEED) + '\n', { mode: 0o600 })
  writeFileSync(join(dir, 'issuers.txt'), issuersFile)
  const logVkey = encodeVerifierKey(NET_ORIGIN, SIG_TYPE_ED25519, publicKeyFromSeed(NET_LOG_SEED))
  const names = ['w1.bench.example', 'w2.bench.example']
  const seeds = names.map((n) => sha256(utf8(`bench witness ${n}`)))
  const witnessConfigs = names.map((name, i) => {
    writeFileSync(join(dir, `w${i + 1}.key`), encodeSignerKey(name, SIG_TYPE_COSIGNATURE_V1, seeds[i]!) + '\n', { mode: 0o600 })
    const file = join(dir, `w${i + 1}.json`)
    writeFileSync(file, JSON.stringify({ name, keyFile: `w${i + 1}.key`, dataDir: `w${i + 1}-data`, listen: `127.0.0.1:${ports[i]}`, logs: [{ origin: NET_ORIGIN, vkeys: [logVkey] }] }))
    return file
  })
  const policy = join(dir, 'policy.txt')
  writeFileSync(
    policy,
    [
      `log ${logVkey}`,
      ...names.map((name, i) => `witness W${i + 1} ${encodeVerifierKey(name, SIG_TYPE_COSIGNATURE_V1, publicKeyFromSeed(seeds[i]!))} http://127.0.0.1:${ports[i]}`),
      'group both all W1 W2',
      'quorum both',
      '',
    ].join('\n'),
  )
  const logConfig = join(dir, 'log.json')
  writeFileSync(
    logConfig,
    JSON.stringify({ origin: NET_ORIGIN, dataDir: 'log-data', keyFile: 'log.key', listen: '127.0.0.1:0', issuersFile: 'issuers.txt', policyFile: 'policy.txt', ...log }),
  )
  return { logConfig, witnessConfigs, policy, issuers: join(dir, 'issuers.txt') }
}
