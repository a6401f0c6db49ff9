import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  agreement,
  helloVersion,
  parseProtocolId,
  PROTOCOL_NAMES,
  protocolId,
  spokenIds,
  VersionedProtocol,
  versionTable,
  VERSIONS,
} from './versions'
import { BLOCKS_PROTOCOL } from '../blocks/messages'
import { DISCOVERY_PROTOCOL } from '../discovery/messages'
import { OUTBOX_PROTOCOL } from '../outbox/messages'
import { RELEASES_PROTOCOL } from '../releases/messages'
import { SYNC_PROTOCOL } from '../sync/messages'
import { MIRROR_PROTOCOL } from '../mirror/protocol'

const FC = { seed: 0x7e5, numRuns: 300 }

describe('the version policy', () => {
  it('names every protocol by its major, and each protocol constant is its current id', () => {
    expect(PROTOCOL_NAMES.sort()).toEqual([
      'blocks',
      'discovery',
      'mirror',
      'outbox',
      'releases',
      'sync',
    ])
    for (const name of PROTOCOL_NAMES) {
      const ids = spokenIds(name)
      expect(ids[0]).toBe(protocolId(name, VERSIONS[name].current))
      expect(ids).toHaveLength(1 + VERSIONS[name].previous.length)
      for (const id of ids) expect(id).toMatch(new RegExp(`^/orrery/${name}/[1-9][0-9]*\\.0\\.0$`))
    }
    expect([
      SYNC_PROTOCOL,
      DISCOVERY_PROTOCOL,
      BLOCKS_PROTOCOL,
      OUTBOX_PROTOCOL,
      RELEASES_PROTOCOL,
    ]).toEqual(
      ['sync/2', 'discovery/1', 'blocks/1', 'outbox/1', 'releases/1'].map(
        (n) => `/orrery/${n}.0.0`,
      ),
    )
    expect(MIRROR_PROTOCOL).toBe('/orrery/mirror/2.0.0') // 2: envelopes name their space's list
  })

  it('speaks the current major first, then the previous ones', () => {
    expect(spokenIds('sync', { current: 3, previous: [2] })).toEqual([
      '/orrery/sync/3.0.0',
      '/orrery/sync/2.0.0',
    ])
    const p = new VersionedProtocol('outbox', { current: 2, previous: [1] })
    expect(p.current).toBe('/orrery/outbox/2.0.0')
    expect(p.ids).toEqual(['/orrery/outbox/2.0.0', '/orrery/outbox/1.0.0'])
    expect(p.majorOf('/orrery/outbox/1.0.0')).toBe(1)
    expect(p.majorOf('/orrery/outbox/2.0.0')).toBe(2)
    expect(p.majorOf('/orrery/outbox/3.0.0')).toBeUndefined()
    expect(p.majorOf('/orrery/sync/3.0.0')).toBeUndefined()
  })

  it('derives the HELLO version from the negotiated major (sync 1.0.0 keeps its historical 2)', () => {
    expect(helloVersion('sync', 1)).toBe(2)
    expect(helloVersion('sync', 2)).toBe(2)
    expect(helloVersion('sync', 3)).toBe(3)
    expect(helloVersion('outbox', 1)).toBe(1)
    expect(helloVersion('outbox', 2)).toBe(2)
  })

  it('refuses a table that lists a major twice, a major below 1, or a previous above the current', () => {
    expect(versionTable().sync).toEqual(VERSIONS.sync)
    expect(versionTable({ sync: { current: 2, previous: [1] } }).sync.previous).toEqual([1])
    expect(() => versionTable({ sync: { current: 1, previous: [1] } })).toThrow(RangeError)
    expect(() => versionTable({ blocks: { current: 0, previous: [] } })).toThrow(RangeError)
    expect(() => versionTable({ outbox: { current: 1.5, previous: [] } })).toThrow(RangeError)
    expect(() => versionTable({ releases: { current: 1, previous: [2] } })).toThrow(RangeError)
    expect(() => new VersionedProtocol('sync', { current: 2, previous: [2] })).toThrow(RangeError)
  })
})

describe('protocol ids from the network', () => {
  it('reads Orrery ids, names this build does not know included', () => {
    expect(parseProtocolId('/orrery/sync/1.0.0')).toEqual({
      ok: true,
      value: { name: 'sync', major: 1 },
    })
    expect(parseProtocolId('/orrery/chat/12.3.4')).toEqual({
      ok: true,
      value: { name: 'chat', major: 12 },
    })
  })

  it('refuses anything else', () => {
    for (const id of [
      '',
      '/ipfs/id/1.0.0',
      '/orrery/sync/1.0',
      '/orrery/sync/01.0.0',
      '/orrery/sync/v1.0.0',
      '/orrery/Sync/1.0.0',
      '/orrery/sync/1.0.0/',
      '/orrery/sync/1.0.0 ',
      '/orrery//1.0.0',
      `/orrery/sync/${'9'.repeat(20)}.0.0`,
      `/orrery/${'a'.repeat(64)}/1.0.0`,
    ]) {
      const r = parseProtocolId(id)
      expect(r.ok, id).toBe(false)
      if (!r.ok) expect(r.error.code).toBe('MALFORMED_MESSAGE')
    }
  })

  it('never throws, and reads back every id it makes', () => {
    const nearly = fc
      .tuple(fc.constantFrom('/orrery/sync/1.0.0', '/orrery/x/2.3.4'), fc.nat(20), fc.string())
      .map(([id, at, junk]) => id.slice(0, at) + junk + id.slice(at))
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), nearly), (s) => {
        const r = parseProtocolId(s)
        if (r.ok) expect(s.startsWith(`/orrery/${r.value.name}/${r.value.major}.`)).toBe(true)
      }),
      FC,
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...PROTOCOL_NAMES),
        fc.integer({ min: 1, max: 999_999_999 }),
        (name, major) => {
          expect(parseProtocolId(protocolId(name, major))).toEqual({
            ok: true,
            value: { name, major },
          })
        },
      ),
      FC,
    )
  })

  it('tells a common major, another one only, or the protocol absent from a remote list', () => {
    const spoken = { current: 2, previous: [1] }
    expect(agreement('sync', spoken, ['/orrery/sync/1.0.0'])).toBe('common')
    expect(agreement('sync', spoken, ['/orrery/sync/3.0.0', '/orrery/sync/2.0.0'])).toBe('common')
    expect(agreement('sync', spoken, ['/orrery/sync/3.0.0'])).toBe('other')
    expect(agreement('sync', { current: 1, previous: [] }, ['/orrery/sync/2.0.0'])).toBe('other')
    expect(agreement('sync', spoken, ['/orrery/blocks/1.0.0', '/ipfs/id/1.0.0'])).toBe('absent')
    expect(agreement('sync', spoken, [])).toBe('absent')
    // junk in the list is neither ours nor another version
    expect(agreement('sync', spoken, ['/orrery/sync/x', '/orrery/sync/1.0'])).toBe('absent')
  })
})
