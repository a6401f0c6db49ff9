/**
 * Keeps a space's keys current in this tab whenever its document changes (epochs.ts): unseals
 * this user's box of a new epoch, gives the space's documents their read keys of the current
 * epoch, and, for an admin, keeps the current epoch right: a new epoch when it is sealed to
 * someone who is no longer a member (after a removal, or two concurrent ones), and boxes for
 * members who have none. One run at a time per space; runs asked for meanwhile become one more.
 */
import { equalBytes, fromBase64Url } from '../bytes'
import { describeError } from '../errors'
import type { DocId } from '../ids'
import type { Identity } from '../identity'
import { seedKeyStore } from '../keys/key-store'
import { createLogger } from '../log'
import type { Repo } from '../repo/repo'
import {
  currentEpoch,
  epochCheck,
  keyOfEpoch,
  newEpoch,
  sealDrift,
  sealEpochKey,
  sealingContext,
  type Epoch,
} from './epochs'
import { roleOf, type SpaceState } from './model'
import { spaceDataDocKey, type SpaceKeys } from './space-keys'

const log = createLogger('spaces')

export interface EpochKeeperOptions {
  repo: Repo
  keys: SpaceKeys
  identity: () => Identity | undefined
  state: (spaceId: string) => SpaceState
  epochs: (spaceId: string) => ReadonlyMap<string, Epoch>
  /** the documents of the space this tab has taken as the space's */
  docsOf: (spaceId: string) => DocId[]
  /** writes the space document as this user */
  write: (spaceId: string, writes: [string[], unknown][]) => Promise<void>
}

export class EpochKeeper {
  /** per space: the run under way, and whether another was asked for meanwhile */
  private readonly runs = new Map<string, { done: Promise<void>; again: boolean }>()
  /** per space: the epoch key its documents were last given keys from, and which documents */
  private readonly keyed = new Map<string, { key: Uint8Array; docs: Set<DocId> }>()

  constructor(private readonly o: EpochKeeperOptions) {}

  /** Brings the space's keys up to date; resolves when a run that began after this call ends. */
  run(spaceId: string): Promise<void> {
    const r = this.runs.get(spaceId)
    if (r !== undefined) {
      r.again = true // the run under way goes round once more before it ends
      return r.done
    }
    const entry = { done: Promise.resolve(), again: false }
    entry.done = (async () => {
      do {
        entry.again = false
        await this.once(spaceId).catch((e: unknown) =>
          log.warn(`keeping the keys of space ${spaceId}: ${describeError(e)}`),
        )
      } while (entry.again)
      this.runs.delete(spaceId)
    })()
    this.runs.set(spaceId, entry)
    return entry.done
  }

  /**
   * The key the space's documents are read with here: the current epoch's, else the newest
   * epoch's this tab holds (a member whose box of the current one has not been made yet).
   */
  currentKey(spaceId: string): Uint8Array | undefined {
    const held = this.o.keys.epochKeys(spaceId)
    const epochs = [...this.o.epochs(spaceId).values()].sort((a, b) =>
      a.n !== b.n ? b.n - a.n : a.id < b.id ? 1 : -1,
    )
    for (const e of epochs) {
      const key = keyOfEpoch(held, spaceId, e)
      if (key !== undefined) return key
    }
    return undefined
  }

  private async once(spaceId: string): Promise<void> {
    const current = currentEpoch(this.o.epochs(spaceId))
    if (current === undefined) return
    const me = this.o.identity()
    let key = keyOfEpoch(this.o.keys.epochKeys(spaceId), spaceId, current)
    if (key === undefined && me !== undefined) key = await this.unseal(spaceId, current, me)
    const use = key ?? this.currentKey(spaceId)
    if (use !== undefined) await this.keyDocs(spaceId, use)
    const state = this.o.state(spaceId)
    if (key !== undefined && me !== undefined && roleOf(state, me.id) === 'admin')
      await this.upkeep(spaceId, state, current, key, me)
  }

  /** Gives the space's documents their keys of this epoch (each document once per epoch). */
  private async keyDocs(spaceId: string, epochKey: Uint8Array): Promise<void> {
    let done = this.keyed.get(spaceId)
    if (done === undefined || !equalBytes(done.key, epochKey))
      this.keyed.set(spaceId, (done = { key: epochKey, docs: new Set() }))
    for (const docId of this.o.docsOf(spaceId)) {
      if (done.docs.has(docId)) continue
      await this.o.repo.setKey(docId, spaceDataDocKey(epochKey, docId))
      done.docs.add(docId)
    }
  }

  /** This user's box of the epoch, opened and checked, then kept; undefined if none opens. */
  private async unseal(
    spaceId: string,
    epoch: Epoch,
    me: Identity,
  ): Promise<Uint8Array | undefined> {
    const box = epoch.sealed.get(me.id)
    const bytes = box === undefined ? undefined : fromBase64Url(box)
    if (bytes === undefined) return undefined
    const opened = await seedKeyStore(me).unseal(bytes, sealingContext(spaceId, epoch.id))
    if (!opened.ok || epochCheck(opened.value, spaceId, epoch.id) !== epoch.check) {
      log.warn(`space ${spaceId}: this user's box of epoch ${epoch.id} does not open`)
      return undefined
    }
    await this.o.keys.keep(spaceId, { epoch: opened.value })
    log.info(`space ${spaceId}: now in epoch ${epoch.n} (${epoch.id})`)
    return opened.value
  }

  /**
   * Starts a new epoch sealed to the space's members (an admin, after a removal). Always, not
   * only when the current epoch is sealed to the removed member: a newcomer's invite carried
   * the epoch key before any box was sealed for them.
   */
  async rotate(spaceId: string, me: Identity): Promise<void> {
    const state = this.o.state(spaceId)
    const current = currentEpoch(this.o.epochs(spaceId))
    const members = [...state.members.keys()].filter((d) => roleOf(state, d) !== undefined)
    const next = await newEpoch(spaceId, current, members, me.id, Date.now())
    await this.o.keys.keep(spaceId, { epoch: next.key })
    await this.o.write(spaceId, [[['keys', next.id], next.value]])
  }

  /** An admin's part: no former member may hold the current key, every member must. */
  private async upkeep(
    spaceId: string,
    state: SpaceState,
    current: Epoch,
    key: Uint8Array,
    me: Identity,
  ): Promise<void> {
    const { missing, stale } = sealDrift(state, current)
    if (stale.length > 0) {
      await this.rotate(spaceId, me)
      log.info(`space ${spaceId}: epoch ${current.n + 1} without ${stale.length} former member(s)`)
      return
    }
    // (an admin who holds the key needs no box of its own: it joined with an invite that had it)
    const others = missing.filter((did) => did !== me.id)
    if (others.length === 0) return
    const boxes = await sealEpochKey(spaceId, current.id, key, others)
    await this.o.write(
      spaceId,
      Object.entries(boxes).map(([did, box]) => [['keys', current.id, 'sealed', did], box]),
    )
  }
}
