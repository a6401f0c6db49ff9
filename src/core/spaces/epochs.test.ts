import { describe, expect, it } from 'vitest'
import { fromBase64Url } from '../bytes'
import { generateIdentity } from '../identity'
import { seedKeyStore } from '../keys/key-store'
import { randomKey } from '../keys/aead'
import {
  currentEpoch,
  epochCheck,
  keyOfEpoch,
  newEpoch,
  readEpochs,
  sealDrift,
  sealingContext,
} from './epochs'
import { readSpace, newSpaceValue } from './model'

const SPACE = 'space-id-for-tests'

describe('space epochs', () => {
  it('a new epoch is sealed to each member, bound to the space and the epoch, and checkable', async () => {
    const [ada, bob] = [generateIdentity(), generateIdentity()]
    const e = await newEpoch(SPACE, undefined, [ada.id, bob.id], ada.id, 1)
    const [read] = [...readEpochs({ keys: { [e.id]: e.value } }).values()]
    expect(read).toMatchObject({ id: e.id, n: 0, by: ada.id })
    expect([...read!.sealed.keys()].sort()).toEqual([ada.id, bob.id].sort())
    for (const who of [ada, bob]) {
      const box = fromBase64Url(read!.sealed.get(who.id)!)!
      const opened = await seedKeyStore(who).unseal(box, sealingContext(SPACE, e.id))
      expect(opened.ok && Array.from(opened.value)).toEqual(Array.from(e.key))
      // another space or epoch: the same box does not open
      const elsewhere = await seedKeyStore(who).unseal(box, sealingContext('other', e.id))
      expect(elsewhere.ok).toBe(false)
    }
    expect(keyOfEpoch([randomKey(), e.key], SPACE, read!)).toBe(e.key)
    expect(keyOfEpoch([randomKey()], SPACE, read!)).toBeUndefined()
    expect(epochCheck(e.key, 'other', e.id)).not.toBe(read!.check)
    const next = await newEpoch(SPACE, read, [ada.id], ada.id, 2)
    expect(next.value.n).toBe(1)
  })

  it('the current epoch is the highest n, ties broken by id, whatever the order', () => {
    const epoch = (id: string, n: number): [string, unknown] => [
      id,
      { n, at: 1, by: 'x', check: 'AAAAAAAAAAAAAAAA', sealed: {} },
    ]
    const ids = ['A'.repeat(22), 'B'.repeat(22), 'C'.repeat(22)]
    const entries = [epoch(ids[0]!, 1), epoch(ids[2]!, 0), epoch(ids[1]!, 1)]
    for (const order of [entries, [...entries].reverse()]) {
      const epochs = readEpochs({ keys: Object.fromEntries(order) })
      expect(currentEpoch(epochs)?.id).toBe(ids[1])
    }
    expect(currentEpoch(new Map())).toBeUndefined()
  })

  it('skips malformed records and bounds what it keeps', () => {
    const good = { n: 0, at: 1, by: 'x', check: 'AAAAAAAAAAAAAAAA', sealed: { d: 'box' } }
    const id = 'A'.repeat(22)
    const bad = [
      { ...good, n: -1 },
      { ...good, n: 1.5 },
      { ...good, check: 'short' },
      { ...good, sealed: 'nope' },
      { ...good, at: 'then' },
      null,
      'text',
    ]
    for (const v of bad) expect(readEpochs({ keys: { [id]: v } }).size).toBe(0)
    expect(readEpochs({ keys: { 'not an id': good } }).size).toBe(0)
    expect(readEpochs({ keys: [good] }).size).toBe(0)
    expect(readEpochs(null).size).toBe(0)
    const huge = { ...good, sealed: { a: 'x'.repeat(10_000), b: 'ok' } }
    expect([
      ...readEpochs({ keys: { [id]: huge } })
        .get(id)!
        .sealed.keys(),
    ]).toEqual(['b'])
  })

  it('says who lacks a box and who holds one without being a member', async () => {
    const [ada, bob, cy] = [generateIdentity(), generateIdentity(), generateIdentity()]
    const value: Record<string, unknown> = { ...newSpaceValue('s', ada, 1, 'nonce') }
    const e = await newEpoch(SPACE, undefined, [ada.id, cy.id], ada.id, 1)
    value.members = {
      ...(value.members as object),
      [bob.id]: { role: 'writer', addedBy: ada.id, addedAt: 2 },
    }
    const [epoch] = [...readEpochs({ keys: { [e.id]: e.value } }).values()]
    const drift = sealDrift(readSpace(value, SPACE), epoch!)
    expect(drift).toEqual({ missing: [bob.id], stale: [cy.id] })
  })
})
