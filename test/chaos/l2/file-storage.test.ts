import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FileLogStorage } from './file-storage'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b)

let dir = ''
afterEach(() => rmSync(dir, { recursive: true, force: true }))
const fresh = (): string => {
  dir = mkdtempSync(path.join(tmpdir(), 'l2-log-'))
  return path.join(dir, 'log')
}

describe('FileLogStorage (the L2 peers’ disk)', () => {
  it('gives back after reopening what it acknowledged: puts, removals, range removals', async () => {
    const file = fresh()
    const s = await FileLogStorage.open(file)
    await s.save(['a', '1'], bytes('one'))
    await s.batch([
      { type: 'put', key: ['a', '2'], data: bytes('two') },
      { type: 'put', key: ['b', '1'], data: bytes('b1') },
      { type: 'remove', key: ['a', '1'] },
    ])
    await s.removeRange(['b'])
    await s.close()
    const again = await FileLogStorage.open(file)
    expect(text(await again.load(['a', '1']))).toBeUndefined()
    expect(text(await again.load(['a', '2']))).toBe('two')
    expect(await again.listKeys(['b'])).toEqual([])
    expect((await again.loadRange(['a'])).map((c) => c.key)).toEqual([['a', '2']])
    expect(again.tornBytes).toBe(0)
    await again.close()
  })

  it('cuts a torn or corrupt last record (a kill mid-write) and keeps appending after it', async () => {
    const file = fresh()
    const s = await FileLogStorage.open(file)
    await s.save(['k', '1'], bytes('kept'))
    await s.batch([
      { type: 'put', key: ['k', '2'], data: bytes('torn') },
      { type: 'put', key: ['k', '3'], data: bytes('torn too') },
    ])
    await s.close()
    const whole = readFileSync(file).length
    truncateSync(file, whole - 5) // the second record, half written: all of it goes
    const cut = await FileLogStorage.open(file)
    expect(cut.tornBytes).toBeGreaterThan(0)
    expect(text(await cut.load(['k', '1']))).toBe('kept')
    expect(await cut.load(['k', '2'])).toBeUndefined()
    expect(await cut.load(['k', '3'])).toBeUndefined()
    await cut.save(['k', '4'], bytes('after'))
    await cut.close()
    appendFileSync(file, Buffer.from([3, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9])) // a bad checksum
    const last = await FileLogStorage.open(file)
    expect(text(await last.load(['k', '4']))).toBe('after')
    expect(last.tornBytes).toBe(11)
    await last.close()
  })
})
