import { describe, expect, it } from 'vitest'
import {
  computeDocState,
  describeDocState,
  describeSummary,
  summarize,
  type DocFacts,
  type PeerSyncFacts,
} from './doc-state'
import { SyncLedger } from './sync-ledger'
import type { SyncPeer } from '../sync/peer'

const facts = (over: Partial<DocFacts> = {}): DocFacts => ({
  id: 'doc',
  heads: [],
  createdHere: false,
  waiting: 0,
  peers: [],
  confirmation: undefined,
  relay: 'connected',
  keyed: true,
  topicAnswered: true,
  topicMembers: 0,
  directPeers: 0,
  ...over,
})

const peer = (over: Partial<PeerSyncFacts> = {}): PeerSyncFacts => ({
  peer: 'p1',
  who: 'did:key:zAlice',
  heard: true,
  hasContent: false,
  ahead: false,
  pending: false,
  changes: 0,
  bytes: 0,
  ...over,
})

describe('computeDocState', () => {
  it('is locked without a read key, whatever else is true, and says how to get in', () => {
    for (const over of [{}, { heads: ['h'] }, { relay: 'offline' as const }, { waiting: 2 }]) {
      const s = computeDocState(facts({ ...over, keyed: false }))
      expect(s.state).toBe('locked')
    }
    expect(describeDocState(computeDocState(facts({ keyed: false })))).toMatch(/share link/)
  })

  it('is unknown when nothing is here and the relay found nobody, and says it is no longer looking', () => {
    const s = computeDocState(facts())
    expect(s).toMatchObject({ state: 'unknown', here: false, searching: false, waiting: 0 })
    expect(describeDocState(s)).toBe('waiting for someone who has this')
  })

  it('is unknown and searching while the relay or an attached peer may still answer', () => {
    expect(computeDocState(facts({ relay: 'connecting' }))).toMatchObject({
      state: 'unknown',
      searching: true,
    })
    expect(computeDocState(facts({ topicAnswered: false }))).toMatchObject({ searching: true })
    expect(
      computeDocState(facts({ peers: [peer({ heard: false })], directPeers: 1 })),
    ).toMatchObject({ state: 'unknown', searching: true })
  })

  it('stays unknown when the peers that answered hold nothing of it either', () => {
    const s = computeDocState(facts({ peers: [peer(), peer({ peer: 'p2' })], directPeers: 2 }))
    expect(s).toMatchObject({ state: 'unknown', searching: false, peers: 2 })
  })

  it('is loading from the peers that announced heads we lack, with what has arrived', () => {
    const s = computeDocState(
      facts({
        peers: [
          peer({ hasContent: true, ahead: true, changes: 3, bytes: 2048 }),
          peer({ peer: 'p2', who: 'p2' }),
        ],
        directPeers: 2,
      }),
    )
    expect(s.state).toBe('loading')
    expect(s.loading).toEqual({ from: ['did:key:zAlice'], changes: 3, bytes: 2048 })
    expect(describeDocState(s)).toBe('loading from …y:zAlice: 2.0 KiB received')
  })

  it('is loading while changes that arrived are not applied yet', () => {
    const s = computeDocState(
      facts({ heads: ['h1'], peers: [peer({ pending: true, changes: 1, bytes: 10 })] }),
    )
    expect(s.state).toBe('loading')
  })

  it('is offline with nothing here, no relay and no direct peer', () => {
    expect(computeDocState(facts({ relay: 'offline' })).state).toBe('offline')
    // a direct peer is enough to be online (the relay may be down)
    expect(computeDocState(facts({ relay: 'offline', directPeers: 1 })).state).toBe('unknown')
  })

  it('counts changes waiting, offline or not', () => {
    expect(computeDocState(facts({ heads: ['h1'], waiting: 2 }))).toMatchObject({
      state: 'waiting',
      waiting: 2,
    })
    const off = computeDocState(facts({ heads: ['h1'], waiting: 1, relay: 'offline' }))
    expect(off).toMatchObject({ state: 'offline', waiting: 1 })
    expect(describeDocState(off)).toBe('offline · 1 change waiting')
  })

  it('is synced only while a confirmation covers the current heads', () => {
    const confirmation = { with: 'did:key:zBob', at: 1000, heads: ['h1'] }
    const synced = computeDocState(facts({ heads: ['h1'], confirmation }))
    expect(synced).toMatchObject({ state: 'synced', confirmed: { with: 'did:key:zBob', at: 1000 } })
    // heads moved on (another tab's change): no longer confirmed
    expect(computeDocState(facts({ heads: ['h2'], confirmation })).state).toBe('local')
    // a confirmation stays true offline
    expect(computeDocState(facts({ heads: ['h1'], confirmation, relay: 'offline' })).state).toBe(
      'synced',
    )
    // and never while changes wait
    expect(computeDocState(facts({ heads: ['h1'], confirmation, waiting: 1 })).state).toBe(
      'waiting',
    )
  })

  it('is local for a new document made here, and for content no peer confirmed', () => {
    const fresh = computeDocState(facts({ createdHere: true, topicAnswered: false }))
    expect(fresh).toMatchObject({ state: 'local', here: false })
    expect(describeDocState(fresh)).toBe('new: only here so far')
    expect(computeDocState(facts({ heads: ['h1'] })).state).toBe('local')
  })
})

describe('the top bar summary', () => {
  const state = (over: Partial<DocFacts>) => computeDocState(facts(over))

  it('says "all synced" only when nothing waits and every open document is confirmed', () => {
    const confirmation = { with: 'x', at: 1, heads: ['h'] }
    const synced = state({ heads: ['h'], confirmation })
    expect(describeSummary(summarize(0, [synced]))).toEqual({ text: 'all synced', ok: true })
    // a new empty document has nothing to confirm
    expect(describeSummary(summarize(0, [synced, state({ createdHere: true })])).ok).toBe(true)
    expect(describeSummary(summarize(0, [synced, state({})]))).toEqual({
      text: 'waiting for someone who has a document',
      ok: false,
    })
    expect(describeSummary(summarize(0, [state({ heads: ['h'] })])).text).toBe(
      '1 document not confirmed by a peer',
    )
  })

  it('shows the count of changes waiting it is given (the sum of the list)', () => {
    expect(describeSummary(summarize(2, [])).text).toBe('2 changes waiting')
    expect(describeSummary(summarize(1, [])).text).toBe('1 change waiting')
  })
})

describe('SyncLedger', () => {
  const p = (id: string, identity?: string): SyncPeer => ({
    key: id,
    remotePeer: id,
    localPeer: 'me',
    identity,
    initiator: true,
    sendInterest: () => undefined,
    wake: () => undefined,
    fault: () => undefined,
  })
  const change = new Uint8Array(100)

  it('follows one peer from attached to heard to applied, and records its confirmation once', () => {
    const ledger = new SyncLedger()
    const a = p('pa', 'did:key:zA')
    ledger.attach(a)
    expect(ledger.facts()).toEqual([expect.objectContaining({ heard: false, pending: false })])
    expect(ledger.heard(a, ['h1'], [])).toBe(true)
    // before the flush: we do not have h1
    let out = ledger.flushed(
      [],
      [a],
      (hs) => hs,
      () => true,
      10,
    )
    expect(out.confirmed).toBeUndefined() // empty heads are never "confirmed"
    expect(ledger.facts()[0]).toMatchObject({ heard: true, hasContent: true, ahead: true })
    ledger.heard(a, ['h1'], [change])
    expect(ledger.facts()[0]).toMatchObject({ pending: true, changes: 1, bytes: 100 })
    out = ledger.flushed(
      ['h1'],
      [a],
      () => [],
      () => true,
      20,
    )
    expect(out).toEqual({ changed: true, confirmed: { with: 'did:key:zA', at: 20, heads: ['h1'] } })
    expect(ledger.facts()[0]).toMatchObject({ ahead: false, pending: false })
    // the same heads confirmed again (or by another peer) keep the first confirmation
    const b = p('pb')
    ledger.attach(b)
    out = ledger.flushed(
      ['h1'],
      [a, b],
      () => [],
      () => true,
      30,
    )
    expect(out.confirmed).toBeUndefined()
    expect(ledger.confirmation).toEqual({ with: 'did:key:zA', at: 20, heads: ['h1'] })
  })

  it('does not confirm for a peer that lacks some of our changes, nor for one that did not answer', () => {
    const ledger = new SyncLedger()
    const a = p('pa')
    const b = p('pb')
    ledger.attach(a)
    ledger.attach(b)
    expect(
      ledger.flushed(
        ['h2'],
        [a],
        () => [],
        () => false,
        5,
      ).confirmed,
    ).toBeUndefined()
    expect(
      ledger.flushed(
        ['h2'],
        [],
        () => [],
        () => true,
        6,
      ).confirmed,
    ).toBeUndefined()
    expect(
      ledger.flushed(
        ['h2'],
        [b],
        () => [],
        () => true,
        7,
      ).confirmed?.with,
    ).toBe('pb')
    ledger.detach(b)
    expect(ledger.facts().map((f) => f.peer)).toEqual(['pa'])
  })
})

describe('the mirror in a document state', () => {
  const now = Date.parse('2026-12-07T12:00:00Z')
  const onMirror = (heads: string[], at = now - 120_000) => ({
    answered: true,
    confirmed: { at, heads },
  })

  it('is mirrored when the mirror holds our heads and no peer confirmed them', () => {
    const s = computeDocState(facts({ heads: ['h'], mirror: onMirror(['h']) }))
    expect(s).toMatchObject({ state: 'mirrored', mirrored: { at: now - 120_000 } })
    expect(describeDocState(s, now)).toBe('on the mirror 2 minutes ago')
  })

  it('says changes no peer has are on the mirror, and the top bar calls that safe', () => {
    const s = computeDocState(facts({ heads: ['h'], waiting: 3, mirror: onMirror(['h']) }))
    expect(s.state).toBe('mirrored')
    expect(describeDocState(s, now)).toBe('on the mirror 2 minutes ago · no peer has 3 changes yet')
    expect(describeSummary(summarize(3, [s]))).toEqual({
      text: '3 changes on the mirror, not yet with a peer',
      ok: true,
    })
  })

  it('is not mirrored once our heads moved past what the mirror acknowledged', () => {
    const s = computeDocState(facts({ heads: ['h2'], waiting: 1, mirror: onMirror(['h1']) }))
    expect(s.state).toBe('waiting')
    expect(s.mirrored).toBeUndefined()
    expect(describeSummary(summarize(1, [s])).ok).toBe(false)
  })

  it('prefers a peer: synced when a peer confirmed the heads too', () => {
    const s = computeDocState(
      facts({
        heads: ['h'],
        confirmation: { with: 'did:key:zBob', at: now, heads: ['h'] },
        mirror: onMirror(['h']),
      }),
    )
    expect(s.state).toBe('synced')
    expect(describeSummary(summarize(0, [s]))).toEqual({ text: 'all synced', ok: true })
  })

  it('keeps looking while the mirror has not answered for a document not here', () => {
    const pending = { answered: false, confirmed: undefined }
    expect(computeDocState(facts({ mirror: pending }))).toMatchObject({
      state: 'unknown',
      searching: true,
    })
    const answered = { answered: true, confirmed: undefined }
    expect(computeDocState(facts({ mirror: answered }))).toMatchObject({ searching: false })
  })

  it('the top bar says which documents only the mirror holds', () => {
    const s = computeDocState(facts({ heads: ['h'], mirror: onMirror(['h']) }))
    expect(describeSummary(summarize(0, [s]))).toEqual({
      text: 'all saved (1 document on the mirror only)',
      ok: true,
    })
  })
})
