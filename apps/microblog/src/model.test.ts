/**
 * The Microblog model against the real state API: a Repo over memory storage, StateApi, and for
 * concurrency two repos that merge over a BroadcastChannel or by exchanging saved documents.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { AppStateApi } from '../../../src/core/apps/api'
import { Repo } from '../../../src/core/repo/repo'
import { StateApi } from '../../../src/core/state'
import { MemoryStorageAdapter } from '../../../src/core/storage/memory'
import { BroadcastTabBus } from '../../../src/core/tabs/bus'
import {
  MAX_POST_LENGTH,
  MicroblogError,
  allPosts,
  createPost,
  follow,
  followersOf,
  followingOf,
  getPost,
  initCommunity,
  isFollowing,
  key,
  like,
  likedBy,
  likesOf,
  newPostId,
  ownKey,
  postRef,
  pathOf,
  profileName,
  profileOf,
  repliesTo,
  reply,
  setProfile,
  thread,
  timeline,
  unfollow,
  unlike,
  type Writer,
} from './model'

const ALICE = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
const BOB = 'did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH'
const CAROL = 'did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf'

const repos: Repo[] = []
const buses: BroadcastTabBus[] = []
afterEach(async () => {
  for (const r of repos.splice(0)) await r.shutdown()
  for (const b of buses.splice(0)) b.close()
})

/** The shell's state API, narrowed to what an app gets. */
function appState(s: StateApi): AppStateApi {
  return {
    get: (p) => s.get(p),
    set: (p, v) => s.set(p, v),
    delete: (p) => s.delete(p),
    subscribe: (p, cb) => s.subscribe(p, cb),
  }
}

function peer(opts: { storage?: MemoryStorageAdapter; bus?: BroadcastTabBus; tab?: string } = {}): {
  repo: Repo
  state: AppStateApi
} {
  const repo = new Repo({
    storage: opts.storage ?? new MemoryStorageAdapter(),
    tabId: opts.tab ?? 't',
    ...(opts.bus ? { bus: opts.bus } : {}),
  })
  repos.push(repo)
  return { repo, state: appState(new StateApi(repo)) }
}

async function community(): Promise<{ repo: Repo; state: AppStateApi; doc: string }> {
  const p = peer()
  const doc = (await p.repo.create()).id
  await initCommunity({ state: p.state, doc, me: ALICE })
  return { ...p, doc }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 5000
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(MicroblogError)
  await expect(p).rejects.toMatchObject({ code })
}

describe('paths and ids', () => {
  it('escapes keys as JSON Pointer segments', () => {
    expect(key('a/b~c')).toBe('a~1b~0c')
    expect(key('~1')).toBe('~01')
    expect(pathOf('DOC', 'profiles', 'did:x:a/b')).toBe('/DOC/profiles/did:x:a~1b')
  })

  it('keeps everything under the writer’s own key; post refs round-trip as keys', async () => {
    const { state, doc } = await community()
    expect(pathOf('DOC', ownKey(ALICE), 'likes', postRef(BOB, 'x'))).toBe(
      `/DOC/~0${ALICE}/likes/${BOB}~1x`,
    )
    const b1 = await createPost({ state, doc, me: BOB }, 'bob', { now: 1 })
    await like({ state, doc, me: ALICE }, b1, 5)
    const value = (await state.get(pathOf(doc))) as Record<string, Record<string, unknown>>
    expect(Object.keys(value).sort()).toEqual([ownKey(ALICE), ownKey(BOB)].sort())
    expect(value[ownKey(ALICE)]!.likes).toEqual({ [b1]: 5 })
    expect(b1.startsWith(`${BOB}/`)).toBe(true)
  })

  it('makes unique post ids that sort by time', () => {
    const ids = Array.from({ length: 1000 }, () => newPostId(1_700_000_000_000))
    expect(new Set(ids).size).toBe(1000)
    const early = newPostId(1_000)
    const late = newPostId(1_700_000_000_000)
    expect(early < late).toBe(true)
    expect(late).toMatch(/^[0-9a-z]{9}-[0-9a-z]{10}$/)
  })
})

describe('two users in one community', () => {
  it('post, reply, like, follow and read their timelines', async () => {
    const { state, doc } = await community()
    const alice: Writer = { state, doc, me: ALICE }
    const bob: Writer = { state, doc, me: BOB }

    await setProfile(alice, { name: '  Alice ', bio: 'hi' }, 1)
    expect(profileName(await state.get(pathOf(doc)), ALICE)).toBe('Alice')
    expect(profileName(await state.get(pathOf(doc)), BOB)).toBe(`…${BOB.slice(-8)}`)
    await setProfile(bob, { name: 'Bob' }, 2)

    const a1 = await createPost(alice, '  hello world  ', { now: 1000 })
    const b1 = await createPost(bob, 'bob here', { now: 2000 })
    const r1 = await reply(bob, a1, 'welcome, alice', 3000)
    const a2 = await createPost(alice, 'second', { now: 4000 })

    let v = await state.get(pathOf(doc))
    expect(getPost(v, a1)).toEqual({ id: a1, author: ALICE, text: 'hello world', createdAt: 1000 })
    expect(getPost(v, r1)).toMatchObject({ author: BOB, replyTo: a1, text: 'welcome, alice' })
    expect(allPosts(v).map((p) => p.id)).toEqual([a2, r1, b1, a1])

    // nobody follows anybody yet: everyone sees only their own posts
    expect(timeline(v, ALICE).map((p) => p.id)).toEqual([a2, a1])
    expect(timeline(v, BOB).map((p) => p.id)).toEqual([r1, b1])

    await follow(alice, BOB, 10)
    await follow(alice, BOB, 99) // idempotent: keeps the first time
    await follow(alice, CAROL, 11)
    v = await state.get(pathOf(doc))
    expect(await state.get(pathOf(doc, ownKey(ALICE), 'follows', BOB))).toBe(10)
    expect(timeline(v, ALICE).map((p) => p.id)).toEqual([a2, r1, b1, a1])
    expect(timeline(v, BOB).map((p) => p.id)).toEqual([r1, b1])
    expect(followingOf(v, ALICE)).toEqual([BOB, CAROL])
    expect(followersOf(v, BOB)).toEqual([ALICE])
    expect(followersOf(v, ALICE)).toEqual([])
    expect(isFollowing(v, ALICE, BOB)).toBe(true)
    expect(isFollowing(v, BOB, ALICE)).toBe(false)

    await unfollow(alice, CAROL)
    await unfollow(alice, CAROL) // idempotent
    expect(followingOf(await state.get(pathOf(doc)), ALICE)).toEqual([BOB])

    await like(alice, b1, 20)
    await like(alice, b1, 30) // idempotent
    await like(bob, b1, 25)
    await like(bob, a1, 26)
    v = await state.get(pathOf(doc))
    expect(likesOf(v, b1)).toEqual([ALICE, BOB])
    expect(await state.get(pathOf(doc, ownKey(ALICE), 'likes', b1))).toBe(20)
    expect(likedBy(v, b1, ALICE)).toBe(true)
    expect(likedBy(v, a2, ALICE)).toBe(false)

    await unlike(alice, b1)
    await unlike(alice, b1) // idempotent
    v = await state.get(pathOf(doc))
    expect(likesOf(v, b1)).toEqual([BOB])

    const r2 = await reply(alice, r1, 'thanks bob', 5000)
    const other = await reply(alice, b1, 'not in the thread', 6000)
    v = await state.get(pathOf(doc))
    expect(thread(v, a1).map((p) => p.id)).toEqual([a1, r1, r2])
    expect(thread(v, r1).map((p) => p.id)).toEqual([r1, r2])
    expect(thread(v, 'zzzzzzzzz-nothere0')).toEqual([])
    expect(repliesTo(v, b1).map((p) => p.id)).toEqual([other])
  })

  it('every write stays under keys the writer owns', async () => {
    const { state, doc } = await community()
    const alice: Writer = { state, doc, me: ALICE }
    const b1 = await createPost({ state, doc, me: BOB }, 'bob', { now: 1 })
    await setProfile(alice, { name: 'A' })
    const a1 = await reply(alice, b1, 'hi')
    await like(alice, b1)
    await follow(alice, BOB)
    const v = (await state.get(pathOf(doc))) as Record<string, Record<string, unknown>>
    expect(Object.keys(v).sort()).toEqual([ownKey(ALICE), ownKey(BOB)].sort())
    expect(Object.keys(v[ownKey(BOB)]!)).toEqual(['posts'])
    const mine = v[ownKey(ALICE)] as Record<string, Record<string, unknown>>
    expect(Object.keys(mine).sort()).toEqual(['follows', 'likes', 'posts', 'profile'])
    expect(Object.keys(mine.posts!).map((id) => postRef(ALICE, id))).toEqual([a1])
    expect(mine.likes).toEqual({ [b1]: expect.any(Number) as number })
  })

  it('notifies subscribers of the community document live', async () => {
    const { state, doc } = await community()
    const seen: unknown[] = []
    const off = state.subscribe(pathOf(doc), (v) => seen.push(v))
    await waitFor(() => seen.length === 1, 'the first value')
    const w: Writer = { state, doc, me: ALICE }
    const id = await createPost(w, 'live')
    await like(w, id)
    await waitFor(() => seen.length === 2, 'one call for both changes')
    expect(allPosts(seen[1]).map((p) => p.text)).toEqual(['live'])
    expect(likesOf(seen[1], id)).toEqual([ALICE])
    off()
  })
})

describe('invalid input', () => {
  it('is refused with typed errors, and nothing is written', async () => {
    const { state, doc } = await community()
    const w: Writer = { state, doc, me: ALICE }
    await rejects(createPost(w, ''), 'EMPTY_POST')
    await rejects(createPost(w, ' \n\t '), 'EMPTY_POST')
    await rejects(createPost(w, 'x'.repeat(MAX_POST_LENGTH + 1)), 'POST_TOO_LONG')
    await expect(createPost(w, ` ${'x'.repeat(MAX_POST_LENGTH)} `)).resolves.toBeTypeOf('string')
    // characters, not UTF-16 units: 500 emoji are a valid post
    await expect(createPost(w, '😀'.repeat(MAX_POST_LENGTH))).resolves.toBeTypeOf('string')
    await rejects(reply(w, postRef(BOB, 'zzzzzzzzz-missing00'), 'hi'), 'NO_SUCH_POST')
    await rejects(reply(w, 'zzzzzzzzz-missing00', 'hi'), 'INVALID_ID') // an id without its author
    await rejects(reply(w, 'not an id', 'hi'), 'INVALID_ID')
    await rejects(like(w, '../x'), 'INVALID_ID')
    await rejects(follow(w, ALICE), 'FOLLOW_SELF')
    await rejects(follow(w, 'bob'), 'INVALID_ID')
    await rejects(follow(w, 'did:web:example.com'), 'INVALID_ID') // no key of its own
    await rejects(setProfile(w, { name: '   ' }), 'EMPTY_NAME')
    await rejects(setProfile(w, { name: 'n'.repeat(51) }), 'NAME_TOO_LONG')
    await rejects(setProfile(w, { name: 'ok', bio: 'b'.repeat(281) }), 'BIO_TOO_LONG')
    await rejects(createPost({ state, doc, me: 'nobody' }, 'hi'), 'INVALID_ID')
    const v = await state.get(pathOf(doc))
    expect(allPosts(v)).toHaveLength(2)
    expect(profileOf(v, ALICE)).toBeUndefined()
    expect(followingOf(v, ALICE)).toEqual([])
  })
})

describe('malformed data from other peers', () => {
  it('is skipped by every view', async () => {
    const { state, doc } = await community()
    const good = await createPost({ state, doc, me: ALICE }, 'fine', { now: 100 })
    const set = (who: string, keys: string[], value: unknown): Promise<void> =>
      state.set(pathOf(doc, ownKey(who), ...keys), value)
    const post = (id: string, value: unknown) => set(BOB, ['posts', id], value)
    const ref = (id: string) => postRef(BOB, id)
    await post('aaaaaaaaa-badauthor', { author: 42, text: 'x', createdAt: 1 })
    await post('aaaaaaaaa-badtext', { author: BOB, text: 7, createdAt: 1 })
    await post('aaaaaaaaa-emptytext', { author: BOB, text: '  ', createdAt: 1 })
    await post('aaaaaaaaa-longtext', { author: BOB, text: 'y'.repeat(501), createdAt: 1 })
    await post('aaaaaaaaa-badtime', { author: BOB, text: 'x', createdAt: 'now' })
    await post('aaaaaaaaa-badreply', { author: BOB, text: 'x', createdAt: 1, replyTo: 5 })
    await post('aaaaaaaaa-oldreply', { text: 'x', createdAt: 1, replyTo: 'aaaaaaaaa-badtext' })
    await post('aaaaaaaaa-selfreply', {
      author: BOB,
      text: 'x',
      createdAt: 1,
      replyTo: ref('aaaaaaaaa-selfreply'),
    })
    await post('aaaaaaaaa-scalar', 'just a string')
    await post('not a post id', { author: BOB, text: 'x', createdAt: 1 })
    await post('aaaaaaaaa-list', [1, 2, 3])
    // a cycle of replies that never reaches a root
    await post('bbbbbbbbb-cycle1', {
      author: BOB,
      text: 'c1',
      createdAt: 2,
      replyTo: ref('bbbbbbbbb-cycle2'),
    })
    await post('bbbbbbbbb-cycle2', { text: 'c2', createdAt: 3, replyTo: ref('bbbbbbbbb-cycle1') })
    await set(BOB, ['likes', good], 'yes')
    await set(CAROL, ['likes', good], 5)
    await set(ALICE, ['likes', good], -1)
    await set(BOB, ['likes', ref('bbbbbbbbb-cycle1')], 'nope')
    await set(ALICE, ['follows'], { [BOB]: 1, [ALICE]: 2, [CAROL]: 'x' })
    await set(BOB, ['follows'], 'not a map')
    await set(CAROL, ['follows'], { [ALICE]: 3, notadid: 4 })
    await set(BOB, ['profile'], { name: 42 })
    await set(CAROL, ['profile'], { name: 'Carol', bio: 9, updatedAt: 'x' })
    await set(ALICE, ['profile'], 'Alice')

    const v = await state.get(pathOf(doc))
    const cycle = [ref('bbbbbbbbb-cycle1'), ref('bbbbbbbbb-cycle2')]
    expect(allPosts(v).map((p) => p.id)).toEqual([good, cycle[1], cycle[0]])
    expect(thread(v, cycle[0]!).map((p) => p.id)).toEqual(cycle)
    expect(thread(v, ref('aaaaaaaaa-badauthor'))).toEqual([])
    expect(likesOf(v, good)).toEqual([CAROL])
    expect(likesOf(v, cycle[0]!)).toEqual([])
    expect(followingOf(v, ALICE)).toEqual([BOB])
    expect(followingOf(v, BOB)).toEqual([])
    expect(followersOf(v, ALICE)).toEqual([CAROL])
    expect(timeline(v, ALICE).map((p) => p.id)).toEqual(allPosts(v).map((p) => p.id))
    expect(profileName(v, BOB)).toBe(`…${BOB.slice(-8)}`)
    expect(profileOf(v, CAROL)).toEqual({ name: 'Carol', bio: '', updatedAt: 0 })
    expect(profileName(v, ALICE)).toBe(`…${ALICE.slice(-8)}`)
  })

  it('shows no forged post: another author in the fields, a key nobody owns, the old layout', async () => {
    const { state, doc } = await community()
    const real = await createPost({ state, doc, me: BOB }, 'bob wrote this', { now: 5 })
    const forged = { author: BOB, text: 'bob never wrote this', createdAt: 9 }
    // under Alice's own key, claiming Bob: the path says Alice wrote it, the field disagrees
    await state.set(pathOf(doc, ownKey(ALICE), 'posts', 'ccccccccc-claimsbob'), forged)
    // under a "~did:key" that is no Ed25519 did:key: an ordinary key anyone may write
    const fake = `${BOB.slice(0, -1)}${BOB.endsWith('a') ? 'b' : 'a'}`
    await state.set(pathOf(doc, `~${fake}x`, 'posts', 'ccccccccc-fakekey'), forged)
    await state.set(pathOf(doc, '~did:web:example.com', 'posts', 'ccccccccc-webdid'), forged)
    // the layout before owned paths: anyone could have written it in anyone's name
    await state.set(pathOf(doc, 'posts', 'ccccccccc-legacy'), forged)
    await state.set(pathOf(doc, 'profiles', BOB), { name: 'Not Bob' })
    const v = await state.get(pathOf(doc))
    expect(allPosts(v).map((p) => p.text)).toEqual(['bob wrote this'])
    expect(allPosts(v)[0]).toMatchObject({ id: real, author: BOB })
    expect(timeline(v, BOB).map((p) => p.id)).toEqual([real])
    expect(getPost(v, postRef(ALICE, 'ccccccccc-claimsbob'))).toBeUndefined()
    expect(profileOf(v, BOB)).toBeUndefined()
  })

  it('views accept any value at all', () => {
    for (const v of [
      undefined,
      null,
      0,
      'x',
      [],
      {},
      { [ownKey(ALICE)]: { posts: [], likes: 1 } },
    ]) {
      expect(allPosts(v)).toEqual([])
      expect(timeline(v, ALICE)).toEqual([])
      expect(thread(v, 'aaaaaaaaa-xxxx')).toEqual([])
      expect(likesOf(v, 'aaaaaaaaa-xxxx')).toEqual([])
      expect(followersOf(v, ALICE)).toEqual([])
      expect(followingOf(v, ALICE)).toEqual([])
      expect(profileName(v, ALICE)).toBe(`…${ALICE.slice(-8)}`)
      expect(likesOf(v, '__proto__')).toEqual([])
      expect(profileOf(v, 'constructor')).toBeUndefined()
    }
  })
})

describe('two peers writing at the same time', () => {
  it('merge live over a tab bus', async () => {
    const storage = new MemoryStorageAdapter()
    const channel = `microblog-test-${process.pid}-${Date.now()}`
    const bus = (): BroadcastTabBus => {
      const b = new BroadcastTabBus(channel)
      buses.push(b)
      return b
    }
    const p1 = peer({ storage, bus: bus(), tab: 'one' })
    const p2 = peer({ storage, bus: bus(), tab: 'two' })
    const doc = (await p1.repo.create()).id
    await initCommunity({ state: p1.state, doc, me: ALICE })
    await waitFor(
      async () => (await p2.state.get(pathOf(doc, ownKey(ALICE)))) !== undefined,
      'init',
    )

    const alice: Writer = { state: p1.state, doc, me: ALICE }
    const bob: Writer = { state: p2.state, doc, me: BOB }
    // both in the same task: neither has seen the other's changes
    const [a1, b1] = await Promise.all([
      createPost(alice, 'from alice', { now: 1 }),
      createPost(bob, 'from bob', { now: 2 }),
      setProfile(alice, { name: 'Alice' }),
      setProfile(bob, { name: 'Bob' }),
      follow(alice, BOB),
      follow(bob, ALICE),
    ])
    for (const s of [p1.state, p2.state]) {
      await waitFor(async () => allPosts(await s.get(pathOf(doc))).length === 2, 'both posts')
      const v = await s.get(pathOf(doc))
      expect(timeline(v, ALICE).map((p) => p.id)).toEqual([b1, a1])
      expect(timeline(v, BOB).map((p) => p.id)).toEqual([b1, a1])
      expect([profileName(v, ALICE), profileName(v, BOB)]).toEqual(['Alice', 'Bob'])
    }
  })

  it('merge after working apart, keeping concurrently created maps', async () => {
    const p1 = peer({ tab: 'one' })
    const p2 = peer({ tab: 'two' })
    // no initCommunity: each side creates its own key's maps on its own
    const h1 = await p1.repo.create()
    const doc = h1.id
    const seed = await createPost({ state: p1.state, doc, me: CAROL }, 'seed', { now: 1 })
    const h2 = await p2.repo.open(doc)
    h2.receiveTabChunk(h1.save())
    await waitFor(async () => getPost(await p2.state.get(pathOf(doc)), seed) !== undefined, 'seed')

    const alice: Writer = { state: p1.state, doc, me: ALICE }
    const bob: Writer = { state: p2.state, doc, me: BOB }
    await setProfile(alice, { name: 'Alice' })
    await setProfile(bob, { name: 'Bob' })
    await like(alice, seed, 10)
    await like(bob, seed, 11)
    await follow(alice, CAROL)
    await follow(bob, CAROL)
    const a1 = await reply(alice, seed, 'alice replies', 20)
    const b1 = await reply(bob, seed, 'bob replies', 21)

    const exchange = (): void => {
      const one = h1.save()
      const two = h2.save()
      h1.receiveTabChunk(two)
      h2.receiveTabChunk(one)
    }
    exchange()
    for (const s of [p1.state, p2.state]) {
      await waitFor(
        async () => likesOf(await s.get(pathOf(doc)), seed).length === 2,
        'both likes on both peers',
      )
      const v = await s.get(pathOf(doc))
      expect(likesOf(v, seed)).toEqual([ALICE, BOB])
      expect(thread(v, seed).map((p) => p.id)).toEqual([seed, a1, b1])
      expect(followersOf(v, CAROL)).toEqual([ALICE, BOB].sort())
      expect(profileName(v, ALICE)).toBe('Alice')
      expect(profileName(v, BOB)).toBe('Bob')
    }
    // the repairs each side made converge too
    exchange()
    await waitFor(
      async () =>
        JSON.stringify(await p1.state.get(pathOf(doc))) ===
        JSON.stringify(await p2.state.get(pathOf(doc))),
      'identical documents',
    )
  })
})
