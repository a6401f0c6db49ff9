import { describe, expect, it } from 'vitest'
import { OtherVersions } from './other-versions'
import { versionTable } from './wire/versions'

const ours = ['/orrery/sync/1.0.0', '/orrery/outbox/1.0.0', '/ipfs/id/1.0.0']

describe('peers of another version', () => {
  it('knows nothing of a peer that shares a major of every protocol it speaks', () => {
    const v = new OtherVersions(versionTable())
    v.identified('p1', ours)
    v.identified('relay', ['/orrery/discovery/1.0.0', '/libp2p/circuit/relay/0.2.0/hop'])
    v.identified('newer', ['/orrery/sync/3.0.0', '/orrery/sync/2.0.0', '/orrery/chat/1.0.0'])
    expect(v.peers()).toEqual([])
    expect(v.get('p1')).toBeUndefined()
  })

  it('names a peer that speaks only majors we do not, with what it offers', () => {
    const v = new OtherVersions(versionTable())
    const changed: string[] = []
    v.events.on('changed', (p) => changed.push(p))
    v.identified('p2', ['/orrery/sync/3.0.0', '/orrery/outbox/1.0.0', '/ipfs/ping/1.0.0'])
    expect(v.get('p2')).toEqual({
      offers: ['/orrery/sync/3.0.0', '/orrery/outbox/1.0.0'],
      reason: 'speaks /orrery/sync/3.0.0, we speak /orrery/sync/2.0.0, /orrery/sync/1.0.0',
    })
    expect(v.peers()).toEqual(['p2'])
    expect(changed).toEqual(['p2'])
    // an older peer, seen from the next build, which no longer speaks major 1 of outbox
    const next = new OtherVersions(versionTable({ outbox: { current: 2, previous: [] } }))
    next.identified('old', ours)
    expect(next.get('old')?.reason).toBe(
      'speaks /orrery/outbox/1.0.0, we speak /orrery/outbox/2.0.0',
    )
  })

  it('keeps the first reason, fills in the offers when identify comes later, forgets a peer gone', () => {
    const v = new OtherVersions(versionTable())
    const changed: string[] = []
    v.events.on('changed', (p) => changed.push(p))
    v.note('p3', 'no sync version in common')
    v.note('p3', 'its HELLO says sync v7')
    expect(v.get('p3')).toEqual({ offers: [], reason: 'no sync version in common' })
    v.identified('p3', ['/orrery/sync/9.0.0'])
    expect(v.get('p3')).toEqual({
      offers: ['/orrery/sync/9.0.0'],
      reason: 'no sync version in common',
    })
    v.forget('p3')
    expect(v.get('p3')).toBeUndefined()
    v.forget('p3')
    expect(changed).toEqual(['p3', 'p3', 'p3'])
  })

  it('keeps at most 32 of the ids a peer offers, and only Orrery ids', () => {
    const v = new OtherVersions(versionTable())
    const many = Array.from({ length: 100 }, (_, i) => `/orrery/x${i}/1.0.0`)
    v.identified('p4', ['/orrery/sync/5.0.0', 'garbage', ...many])
    expect(v.get('p4')?.offers).toHaveLength(32)
    expect(v.get('p4')?.offers[0]).toBe('/orrery/sync/5.0.0')
  })
})
