/**
 * Child process for the LevelDB lock test: opens the LevelKv in argv[2],
 * writes `held-by` = its pid, prints "ready", and holds the directory until killed or stdin closes.
 * Usage: node --import tsx test/helpers/storage-lock-holder.ts <dir>
 */
import { LevelKv } from '../../src/storage/level.ts'

const dir = process.argv[2]
if (dir === undefined) throw new TypeError('usage: storage-lock-holder.ts <dir>')
const kv = await LevelKv.open(dir)
// A synced batch before "ready": the parent checks it survives kill -9.
await kv.batch([{ type: 'put', key: new TextEncoder().encode('held-by'), value: new TextEncoder().encode(String(process.pid)) }])
process.stdout.write('ready\n')
// Hold the lock until the parent closes our stdin (or kills us): then close
// cleanly so the directory is left as a stopped process would leave it.
process.stdin.resume()
process.stdin.on('end', () => {
  void kv.close().then(() => process.exit(0))
})
