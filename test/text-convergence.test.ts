/**
 * Issue 20: three peers edit one rich text in ProseMirror at random (typing, deleting across
 * paragraphs, marks, new paragraphs, headings, lists) while links between them are cut and
 * healed; at the end every editor shows the same document, which is also what a fresh editor
 * renders from the text. A failing seed is printed with its schedule.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { joinBackward, setBlockType, splitBlock, toggleMark } from 'prosemirror-commands'
import { wrapInList } from 'prosemirror-schema-list'
import type { Command } from 'prosemirror-state'
import type { OrreryPeer } from '../src/core/peer'
import { makePeer, openDoc, sleep, waitFor } from './peers'
import { TestEditor } from './text-editors'
import { mulberry32 } from './chaos/random'

interface Slot {
  peer: OrreryPeer
  editor: TestEditor
  blocked: Set<string>
}
const slots: Slot[] = []
afterEach(async () => {
  for (const s of slots) s.editor.close()
  await Promise.all(slots.splice(0).map(async (s) => s.peer.stop()))
})

async function link(a: Slot, b: Slot): Promise<void> {
  if (a.blocked.has(b.peer.id) || b.blocked.has(a.peer.id)) return
  await a.peer.node.dial(b.peer.node.getMultiaddrs()).catch(() => undefined)
}

async function cut(a: Slot, b: Slot): Promise<void> {
  a.blocked.add(b.peer.id)
  b.blocked.add(a.peer.id)
  await a.peer.node.hangUp(b.peer.node.peerId).catch(() => undefined)
  await b.peer.node.hangUp(a.peer.node.peerId).catch(() => undefined)
}

async function linkAll(): Promise<void> {
  for (let i = 0; i < slots.length; i++)
    for (let j = i + 1; j < slots.length; j++) await link(slots[i]!, slots[j]!)
}

const WORDS = ['orrery', ' ', 'moon', 'ü', '🪐', 'tide ', 'x']

async function run(seed: number, steps: number): Promise<string[]> {
  const rand = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const log: string[] = []
  const first = await makePeer()
  const id = (await first.repo.create()).id
  for (let i = 0; i < 3; i++) {
    const blocked = new Set<string>()
    const peer =
      i === 0
        ? first
        : await makePeer({
            connectionGater: {
              denyDialPeer: (p) => blocked.has(p.toString()),
              denyInboundEncryptedConnection: (p) => blocked.has(p.toString()),
            },
          })
    slots.push({ peer, editor: new TestEditor(await openDoc(peer, id)), blocked })
  }
  slots[0]!.editor.type('The first paragraph of the text')
  await linkAll()
  await waitFor(() => slots.every((s) => s.editor.text.length > 0), 5000, 'everyone has the text')

  for (let step = 0; step < steps; step++) {
    const s = pick(slots)
    const e = s.editor
    const n = slots.indexOf(s)
    const size = e.doc.content.size
    const a = e.textPos(Math.floor(rand() * size))
    const b = e.textPos(Math.floor(rand() * size))
    const [from, to] = a <= b ? [a, b] : [b, a]
    const select = (): void => e.select(from, to)
    const run = (cmd: Command): boolean => e.run(cmd)
    const schema = e.binding.schema
    const r = rand()
    if (r < 0.4) {
      const word = pick(WORDS)
      e.type(word, from)
      log.push(`${step}: p${n} types ${JSON.stringify(word)} at ${from}`)
    } else if (r < 0.5) {
      if (to - from < 40) {
        e.dispatch(e.state.tr.delete(from, to))
        log.push(`${step}: p${n} deletes ${from}-${to}`)
      }
    } else if (r < 0.6) {
      select()
      const mark = pick(['strong', 'em', 'code'] as const)
      run(toggleMark(schema.marks[mark]!))
      log.push(`${step}: p${n} toggles ${mark} on ${from}-${to}`)
    } else if (r < 0.7) {
      select()
      run(splitBlock)
      log.push(`${step}: p${n} splits at ${from}`)
    } else if (r < 0.76) {
      select()
      const level = 1 + Math.floor(rand() * 3)
      run(setBlockType(schema.nodes['heading']!, { level }))
      log.push(`${step}: p${n} heading ${level} at ${from}`)
    } else if (r < 0.8) {
      select()
      run(wrapInList(schema.nodes['bullet_list']!))
      log.push(`${step}: p${n} bullet list at ${from}`)
    } else if (r < 0.84) {
      e.select(from)
      run(joinBackward)
      log.push(`${step}: p${n} joins back at ${from}`)
    } else if (r < 0.92) {
      const other = pick(slots.filter((x) => x !== s))
      await cut(s, other)
      log.push(`${step}: cut p${n} | p${slots.indexOf(other)}`)
    } else {
      const other = pick(slots.filter((x) => x !== s))
      s.blocked.delete(other.peer.id)
      other.blocked.delete(s.peer.id)
      await link(s, other)
      log.push(`${step}: heal p${n} - p${slots.indexOf(other)}`)
    }
    if (rand() < 0.3) await sleep(Math.floor(rand() * 20))
  }
  for (const s of slots) s.blocked.clear()
  await linkAll()
  const shown = (): string[] => slots.map((s) => s.editor.doc.toString())
  try {
    await waitFor(() => new Set(shown()).size === 1, 15_000, `convergence (seed ${seed})`)
  } catch (err) {
    const fresh = slots.map((s) => s.editor.fresh().toString())
    const detail = [...shown(), 'fresh from the text:', ...fresh, ...log].join('\n')
    throw new Error(`${String(err)}\n${detail}`, { cause: err })
  }
  for (const s of slots) {
    expect(
      s.editor.doc.eq(s.editor.fresh()),
      `editor = text (seed ${seed})\n${log.join('\n')}`,
    ).toBe(true)
    expect(s.editor.refused).toEqual([])
    expect(s.editor.mismatches, `seed ${seed}`).toEqual([])
  }
  return log
}

// TEXT_SEEDS=n runs n more seeds (a longer hunt than CI's three)
const extra = Array.from({ length: Number(process.env['TEXT_SEEDS'] ?? 0) }, (_, i) => 100 + i)

describe('rich text under random edits, partitions and heals', () => {
  for (const seed of [3, 11, 2026, ...extra]) {
    it(`converges for seed ${seed}`, async () => {
      expect((await run(seed, 80)).length).toBeGreaterThan(0)
    }, 60_000)
  }
})
