/** Keys, configurations and a policy for a log with two witnesses, in a temp directory, for tests that run real processes. */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, encodeSignerKey, encodeVerifierKey, publicKeyFromSeed, sha256, utf8 } from '../../src/core/index.ts'
import { freePort } from '../../scripts/proc.ts'
import { ISSUERS_FILE, LOG_SEED, ORIGIN } from './log-fixture.ts'
import { startActlog, writeJson, type Proc } from './processes.ts'

export const WITNESS_NAMES = ['w1.e2e.example', 'w2.e2e.example']
export const witnessSeed = (i: number): Uint8Array => sha256(utf8(`e2e witness ${i}`))

export interface Network {
  dir: string
  logConfig: string
  witnessConfigs: string[]
  policy: string
  issuers: string
  /** Witness ports, fixed once chosen so a restarted witness keeps its URL. */
  ports: number[]
}

export { freePort }

/** Writes keys, configs and a 2-of-2 policy under `dir`. */
export async function makeNetwork(dir: string, opts: { witnessWaitSeconds?: number; quorum?: string } = {}): Promise<Network> {
  mkdirSync(dir, { recursive: true })
  const ports = [await freePort(), await freePort()]
  writeFileSync(join(dir, 'log.key'), encodeSignerKey(ORIGIN, SIG_TYPE_ED25519, LOG_SEED) + '\n', { mode: 0o600 })
  writeFileSync(join(dir, 'issuers.txt'), ISSUERS_FILE)
  const logVkey = encodeVerifierKey(ORIGIN, SIG_TYPE_ED25519, publicKeyFromSeed(LOG_SEED))
  const witnessConfigs = WITNESS_NAMES.map((name, i) => {
    writeFileSync(join(dir, `w${i + 1}.key`), encodeSignerKey(name, SIG_TYPE_COSIGNATURE_V1, witnessSeed(i)) + '\n', { mode: 0o600 })
    const file = join(dir, `w${i + 1}.json`)
    writeJson(file, { name, keyFile: `w${i + 1}.key`, dataDir: `w${i + 1}-data`, listen: `127.0.0.1:${ports[i]}`, logs: [{ origin: ORIGIN, vkeys: [logVkey] }] })
    return file
  })
  const policy = join(dir, 'policy.txt')
  writeFileSync(
    policy,
    [
      `log ${logVkey}`,
      ...WITNESS_NAMES.map((name, i) => `witness W${i + 1} ${encodeVerifierKey(name, SIG_TYPE_COSIGNATURE_V1, publicKeyFromSeed(witnessSeed(i)))} http://127.0.0.1:${ports[i]}`),
      'group both all W1 W2',
      `quorum ${opts.quorum ?? 'both'}`,
      '',
    ].join('\n'),
  )
  const logConfig = join(dir, 'log.json')
  writeJson(logConfig, {
    origin: ORIGIN,
    dataDir: 'log-data',
    keyFile: 'log.key',
    listen: '127.0.0.1:0',
    issuersFile: 'issuers.txt',
    policyFile: 'policy.txt',
    witnessWaitSeconds: opts.witnessWaitSeconds ?? 10,
    witnessTimeoutSeconds: 2,
    batch: { maxEntries: 256, maxDelayMs: 5 },
  })
  return { dir, logConfig, witnessConfigs, policy, issuers: join(dir, 'issuers.txt'), ports }
}

export function startWitnessProc(n: Network, i: number): Promise<Proc> {
  return startActlog(['witness', '--config', n.witnessConfigs[i]!])
}

export function startLogProc(n: Network, config = n.logConfig): Promise<Proc> {
  return startActlog(['serve', '--config', config])
}

/** Copies the log's data directory (the log must be stopped or the copy may be torn). */
export function copyLogData(n: Network, to: string): void {
  cpSync(join(n.dir, 'log-data'), join(n.dir, to), { recursive: true })
}
