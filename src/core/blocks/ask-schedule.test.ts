import { describe, expect, it } from 'vitest'
import { AskSchedule } from './ask-schedule'

const policy = { findMs: 2000, minRetryMs: 1000, maxRetryMs: 4000 }

describe('AskSchedule', () => {
  it('says "waiting" once nobody was there to ask for a while, and never asks nobody', () => {
    const s = new AskSchedule(0, policy)
    expect(s.shouldAsk([], 0)).toBe(false)
    expect(s.phase(1999, 0)).toBe('finding')
    expect(s.phase(2000, 0)).toBe('waiting')
  })

  it('says "waiting" as soon as the providers it asked had nothing, and asks them again with backoff', () => {
    const s = new AskSchedule(0, policy)
    expect(s.shouldAsk(['relay'], 10)).toBe(true)
    s.asking(['relay'], 10)
    expect(s.phase(20, 1)).toBe('finding')
    s.unavailable()
    expect(s.phase(20, 1)).toBe('waiting')
    expect(s.shouldAsk(['relay'], 1000)).toBe(false)
    expect(s.shouldAsk(['relay'], 2010)).toBe(true) // 1 s doubled
    s.asking(['relay'], 2010)
    s.unavailable()
    s.asking(['relay'], 2010)
    s.unavailable()
    expect(s.shouldAsk(['relay'], 2010 + 3999)).toBe(false)
    expect(s.shouldAsk(['relay'], 2010 + 4000)).toBe(true) // capped at maxRetryMs
  })

  it('asks a provider that appears at once, and one that left and came back', () => {
    const s = new AskSchedule(0, policy)
    s.asking(['relay'], 0)
    s.unavailable()
    expect(s.shouldAsk(['relay', 'peer'], 5)).toBe(true)
    s.asking(['relay', 'peer'], 5)
    s.unavailable()
    expect(s.shouldAsk(['relay', 'peer'], 6)).toBe(false)
    expect(s.shouldAsk(['relay'], 7)).toBe(false) // peer left
    expect(s.shouldAsk(['relay', 'peer'], 8)).toBe(true) // and came back
  })
})
