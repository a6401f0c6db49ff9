/** The relay's libp2p key lives on disk so its peer id (and browsers' saved addresses) survive restarts. */
import fs from 'node:fs/promises'
import path from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export async function loadOrCreateKey(dataDir: string): Promise<PrivateKey> {
  const file = path.join(dataDir, 'relay-key')
  try {
    return privateKeyFromProtobuf(await fs.readFile(file))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `the relay key at ${file} is unreadable (${String(e)}); move it away to make a new one`,
        { cause: e },
      )
    }
  }
  const key = await generateKeyPair('Ed25519')
  await fs.mkdir(dataDir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  await fs.writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await fs.rename(tmp, file)
  return key
}
