import { describe, expect, it } from 'vitest'
import type { DocSyncState } from '../../../src/core/apps/api'
import { sourceText } from './source'

const now = Date.parse('2026-12-07T12:00:00Z')
const state = (over: Partial<DocSyncState>): DocSyncState => ({
  id: 'doc',
  state: 'local',
  here: true,
  waiting: 0,
  peers: 0,
  topicMembers: 0,
  searching: false,
  ...over,
})
const name = (did: string): string => (did === 'did:key:zAda' ? 'Ada' : did)

describe('where the posts came from', () => {
  it('says live with whom while a member is connected', () => {
    const s = state({ state: 'synced', peers: 1, confirmed: { with: 'did:key:zAda', at: now } })
    expect(sourceText(s, name, now)).toBe('Live with Ada')
  })

  it('says from the mirror and how long ago, and what of ours no member has yet', () => {
    const s = state({ state: 'mirrored', mirrored: { at: now - 120_000 } })
    expect(sourceText(s, name, now)).toBe('From the mirror, 2 minutes ago; no member online')
    expect(sourceText({ ...s, waiting: 3 }, name, now)).toBe(
      'From the mirror, 2 minutes ago; no member online · 3 changes of yours not yet with a member',
    )
  })

  it('says nothing while nothing is here (the feed says why)', () => {
    expect(sourceText(state({ state: 'unknown', here: false }), name, now)).toBeUndefined()
    expect(sourceText(undefined, name, now)).toBeUndefined()
  })

  it('says when it was last synced once the member left', () => {
    const s = state({
      state: 'synced',
      confirmed: { with: 'did:key:zAda', at: now - 3 * 3600_000 },
    })
    expect(sourceText(s, name, now)).toBe('Last synced with Ada 3 hours ago')
  })
})
