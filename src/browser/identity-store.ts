/**
 * The identity and profile id in IndexedDB. Two tabs opening a fresh profile at once race to
 * create the identity; the check-and-create runs in one transaction, so exactly one wins and the
 * other reads it.
 */
import { fromBase58, randomBytes, toBase58 } from '../core/bytes'
import { generateIdentity, identityFromSeed, type Identity } from '../core/identity'
import type { OrreryDb } from './db'

interface StoredIdentity {
  seed: Uint8Array
  createdAt: number
}

export interface ProfileRecord {
  identity: Identity
  profileId: string
}

export async function loadOrCreateProfile(db: OrreryDb): Promise<ProfileRecord> {
  return db.transaction('rw', db.settings, async () => {
    let stored = (await db.settings.get('identity'))?.value as StoredIdentity | undefined
    if (stored === undefined || !(stored.seed instanceof Uint8Array) || stored.seed.length !== 32) {
      const fresh = generateIdentity()
      stored = { seed: fresh.seed, createdAt: fresh.createdAt }
      await db.settings.put({ key: 'identity', value: stored })
    }
    let profileId = (await db.settings.get('profileId'))?.value
    if (typeof profileId !== 'string' || fromBase58(profileId) === undefined) {
      profileId = toBase58(randomBytes(12))
      await db.settings.put({ key: 'profileId', value: profileId })
    }
    return {
      identity: identityFromSeed(stored.seed, stored.createdAt),
      profileId: profileId as string,
    }
  })
}

export async function replaceIdentity(db: OrreryDb, identity: Identity): Promise<void> {
  const value: StoredIdentity = { seed: identity.seed, createdAt: identity.createdAt }
  await db.settings.put({ key: 'identity', value })
}
