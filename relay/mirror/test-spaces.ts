/**
 * Helpers of the mirror store's tests: stores on LevelDB in temporary directories (closed and
 * removed after each test), a space's cast and member lists, envelopes of one change.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import { randomBytes } from '../../src/core/bytes'
import type { OrreryError, Result } from '../../src/core/errors'
import { generateIdentity, type Identity } from '../../src/core/identity'
import { newSpaceId } from '../../src/core/ids'
import { sealEnvelope } from '../../src/core/mirror/envelope'
import { encodeRoster, keyHex, rosterId } from '../../src/core/mirror/roster'
import type { Role } from '../../src/core/spaces/model'
import { newMirrorDoc, type MirrorTestDoc } from '../../test/mirror-doc'
import { MirrorStore, type MirrorStoreOptions } from './store'

/** `tmp` and `openStore`, cleaned up after each test of the file that calls this. */
export function tempStores(prefix = 'orrery-mirror-', defaults: MirrorStoreOptions = {}) {
  const dirs: string[] = []
  const open: MirrorStore[] = []
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close()
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
  })
  function tmp(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    dirs.push(d)
    return d
  }
  async function openStore(dir = tmp(), options: MirrorStoreOptions = {}): Promise<MirrorStore> {
    const store = await MirrorStore.open(dir, { ...defaults, ...options })
    open.push(store)
    return store
  }
  return { tmp, openStore }
}

// root created the space; ann is an admin, bob a writer, cat a reader; eve is nobody
export const root = generateIdentity()
export const ann = generateIdentity()
export const bob = generateIdentity()
export const cat = generateIdentity()
export const eve = generateIdentity()
export const k = (i: Identity): string => keyHex(i.publicKey)
export const STAFF: [Identity, Role][] = [
  [root, 'admin'],
  [ann, 'admin'],
  [bob, 'writer'],
  [cat, 'reader'],
]

export interface TestSpace {
  spaceTag: Uint8Array
  /** its member list's id */
  id: Uint8Array
  spaceId: string
  doc: MirrorTestDoc
}

export function newSpace(): TestSpace {
  const spaceTag = randomBytes(32)
  const spaceId = newSpaceId(root.id).id
  return { spaceTag, id: rosterId(spaceTag, root.publicKey), spaceId, doc: newMirrorDoc() }
}

/** A member list of `s`, signed. */
export function roster(
  s: TestSpace,
  serial: number,
  members: [Identity, Role][] = STAFF,
  removed: Identity[] = [],
  signer = root,
  rootKey = root.publicKey,
): Uint8Array {
  return encodeRoster(
    {
      spaceTag: s.spaceTag,
      root: rootKey,
      serial,
      members: new Map(members.map(([i, role]) => [k(i), role])),
      removed: new Set(removed.map(k)),
    },
    signer,
  )
}

/** an envelope of one change of `doc`, naming roster `id` (none: a document of no space) */
export function seal(
  uploader: Identity,
  seq: number,
  doc: MirrorTestDoc,
  id?: Uint8Array,
): Uint8Array {
  const changes = [{ change: new Uint8Array(100).fill(seq) }]
  const { docId, readKey } = doc
  return sealEnvelope({ docId, readKey, roster: id, epoch: 0, uploader, seq, changes })
}

export const code = (r: Result<unknown, OrreryError>): string => (r.ok ? 'ok' : r.error.code)

export function must<T>(r: Result<T, OrreryError>): T {
  if (!r.ok) throw r.error
  return r.value
}
