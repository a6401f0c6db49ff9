/**
 * The Microblog's guarded actions against the real state API (a Repo over memory storage and
 * StateApi, as in model.test.ts) behind a fake of the shell's guard: like the shell, it refuses a
 * run unless the document is the app's and the user is a member of its space with at least the
 * action's role, and only then calls the action with ctx = { me, doc, state }.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ActionSpec, AppApi, AppStateApi, SpaceRole } from '../../../src/core/apps/api'
import { OrreryError } from '../../../src/core/errors'
import { Repo } from '../../../src/core/repo/repo'
import { StateApi } from '../../../src/core/state'
import { MemoryStorageAdapter } from '../../../src/core/storage/memory'
import {
  ACTION_NAMES,
  ACTION_ROLES,
  READ_ONLY_NOTE,
  canInvite,
  canWrite,
  defineActions,
  errorText,
  hasRole,
  isRefusal,
  runAction,
  type ActionName,
} from './actions'
import {
  MicroblogError,
  allPosts,
  followingOf,
  getPost,
  likesOf,
  pathOf,
  profileOf,
  timeline,
} from './model'

const ALICE = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
const BOB = 'did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH'
const CAROL = 'did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf'
const DAVE = 'did:key:z6MkvWkza1fMBWhKnYE3CgMgxHem62YkEw4JbdmEZeFTEZ7A'

const repos: Repo[] = []
afterEach(async () => {
  for (const r of repos.splice(0)) await r.shutdown()
})

/** The shell's state API narrowed to what an app gets, counting the writes that reach it. */
function appState(s: StateApi): AppStateApi & { writes: number } {
  const api = {
    writes: 0,
    get: (p: string) => s.get(p),
    set: (p: string, v: unknown) => {
      api.writes++
      return s.set(p, v)
    },
    delete: (p: string) => {
      api.writes++
      return s.delete(p)
    },
    subscribe: (p: string, cb: (v: unknown) => void) => s.subscribe(p, cb),
  }
  return api
}

const RANK: Record<SpaceRole, number> = { reader: 1, writer: 2, admin: 3 }

/** One community's space: members and their roles, shared by every user's fake shell. */
type Space = Map<string, SpaceRole>

/** The shell's `actions` for one user, with its guard (the order of checks is the shell's). */
function fakeShell(
  me: string,
  state: AppStateApi,
  spaces: Map<string, Space>,
): Pick<AppApi, 'actions' | 'role'> & { defined: Map<string, ActionSpec> } {
  const defined = new Map<string, ActionSpec>()
  const role = (doc: string): SpaceRole | undefined => spaces.get(doc)?.get(me)
  return {
    defined,
    role,
    actions: {
      define: (name, spec) => {
        if (defined.has(name)) throw new OrreryError('INVALID_VALUE', `${name} is already defined`)
        defined.set(name, spec)
      },
      run: async (name, doc, args) => {
        const spec = defined.get(name)
        if (spec === undefined) throw new OrreryError('INVALID_VALUE', `no action ${name}`)
        if (!spaces.has(doc)) throw new OrreryError('FORBIDDEN', `not the app's document ${doc}`)
        const r = role(doc)
        if (r === undefined) {
          throw new OrreryError('NOT_A_MEMBER', `${name}: you are not a member of this space`)
        }
        if (RANK[r] < RANK[spec.role]) {
          throw new OrreryError(
            'NOT_ALLOWED',
            `${name} needs the ${spec.role} role; you are a ${r}`,
          )
        }
        return spec.run({ me, doc, state }, args)
      },
    },
  }
}

/** A community with Alice as admin, Bob a writer, Carol a reader; Dave is not a member. */
async function community() {
  const repo = new Repo({ storage: new MemoryStorageAdapter(), tabId: 't' })
  repos.push(repo)
  const state = appState(new StateApi(repo))
  const doc = (await repo.create()).id
  const space: Space = new Map([
    [ALICE, 'admin'],
    [BOB, 'writer'],
    [CAROL, 'reader'],
  ])
  const spaces = new Map([[doc, space]])
  const user = (me: string) => {
    const shell = fakeShell(me, state, spaces)
    defineActions(shell.actions)
    return shell
  }
  const value = () => state.get(pathOf(doc))
  return {
    repo,
    state,
    doc,
    space,
    value,
    alice: user(ALICE),
    bob: user(BOB),
    carol: user(CAROL),
    dave: user(DAVE),
  }
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code })
}

describe('defining the actions', () => {
  it('defines every write once, with writer as the least role (admin to set a community up)', () => {
    const shell = fakeShell(ALICE, {} as AppStateApi, new Map())
    defineActions(shell.actions)
    expect([...shell.defined.keys()].sort()).toEqual([
      'community/init',
      'follows/set',
      'follows/unset',
      'likes/set',
      'likes/unset',
      'posts/create',
      'posts/reply',
      'profiles/set',
    ])
    expect(Object.fromEntries([...shell.defined].map(([n, s]) => [n, s.role]))).toEqual({
      'community/init': 'admin',
      'profiles/set': 'writer',
      'posts/create': 'writer',
      'posts/reply': 'writer',
      'likes/set': 'writer',
      'likes/unset': 'writer',
      'follows/set': 'writer',
      'follows/unset': 'writer',
    })
    expect(ACTION_NAMES.map((n) => ACTION_ROLES[n])).not.toContain('reader')
    // the root element may get its API again: defining twice on one registry changes nothing
    // (the shell refuses a second definition of a name)
    expect(() => defineActions(shell.actions)).not.toThrow()
    expect(shell.defined.size).toBe(8)
  })
})

describe('members write through the guard', () => {
  it('the admin sets the community up; writers post, reply, like and follow as themselves', async () => {
    const { doc, value, alice, bob } = await community()
    await runAction(alice, doc, 'community/init')
    expect(await value()).toEqual({ [`~${ALICE}`]: {} })

    const profile = await runAction(alice, doc, 'profiles/set', { name: ' Alice ', bio: 'hi' })
    expect(profile).toMatchObject({ name: 'Alice', bio: 'hi' })
    await runAction(bob, doc, 'profiles/set', { name: 'Bob' })
    const a1 = await runAction(alice, doc, 'posts/create', { text: ' hello ' })
    const r1 = await runAction(bob, doc, 'posts/reply', { parent: a1, text: 'hi Alice' })
    await runAction(bob, doc, 'likes/set', { post: a1 })
    await runAction(bob, doc, 'likes/set', { post: a1 }) // idempotent
    await runAction(alice, doc, 'follows/set', { identity: BOB })

    let v = await value()
    expect(profileOf(v, ALICE)?.name).toBe('Alice')
    expect(profileOf(v, BOB)).toMatchObject({ name: 'Bob', bio: '' })
    expect(getPost(v, a1)).toMatchObject({ author: ALICE, text: 'hello' })
    expect(getPost(v, r1)).toMatchObject({ author: BOB, replyTo: a1, text: 'hi Alice' })
    expect(likesOf(v, a1)).toEqual([BOB])
    expect(followingOf(v, ALICE)).toEqual([BOB])
    expect(
      timeline(v, ALICE)
        .map((p) => p.id)
        .sort(),
    ).toEqual([a1, r1].sort())

    await runAction(bob, doc, 'likes/unset', { post: a1 })
    await runAction(alice, doc, 'follows/unset', { identity: BOB })
    v = await value()
    expect(likesOf(v, a1)).toEqual([])
    expect(followingOf(v, ALICE)).toEqual([])
  })

  it('writes as the checked user, whatever the arguments name', async () => {
    const { doc, value, bob } = await community()
    const args = { text: 'mine', author: ALICE, me: ALICE }
    const id = await bob.actions.run('posts/create', doc, args)
    expect(getPost(await value(), String(id))?.author).toBe(BOB)
    await bob.actions.run('profiles/set', doc, { name: 'Bob', me: ALICE })
    expect(profileOf(await value(), ALICE)).toBeUndefined()
    expect(profileOf(await value(), BOB)?.name).toBe('Bob')
  })
})

describe('the guard refuses before anything is written', () => {
  const calls: [ActionName, unknown][] = [
    ['community/init', undefined],
    ['profiles/set', { name: 'X' }],
    ['posts/create', { text: 'hello' }],
    ['posts/reply', { parent: 'PARENT', text: 'hello' }],
    ['likes/set', { post: 'PARENT' }],
    ['likes/unset', { post: 'PARENT' }],
    ['follows/set', { identity: ALICE }],
    ['follows/unset', { identity: ALICE }],
  ]
  const withParent = (args: unknown, parent: string): unknown =>
    JSON.parse(JSON.stringify(args ?? null).replace('PARENT', parent)) ?? undefined

  it('readers read only (NOT_ALLOWED); non-members cannot write (NOT_A_MEMBER)', async () => {
    const { doc, state, value, alice, carol, dave } = await community()
    await runAction(alice, doc, 'community/init')
    const a1 = await runAction(alice, doc, 'posts/create', { text: 'hello' })
    const before = await value()
    const writes = state.writes
    for (const [name, args] of calls) {
      await rejects(carol.actions.run(name, doc, withParent(args, a1)), 'NOT_ALLOWED')
      await rejects(dave.actions.run(name, doc, withParent(args, a1)), 'NOT_A_MEMBER')
    }
    expect(state.writes).toBe(writes)
    expect(await value()).toEqual(before)
    expect(allPosts(await value()).map((p) => p.author)).toEqual([ALICE])
  })

  it('only the admin sets a community up', async () => {
    const { doc, state, bob } = await community()
    await rejects(runAction(bob, doc, 'community/init'), 'NOT_ALLOWED')
    expect(state.writes).toBe(0)
  })

  it('a removed member or a demoted writer is refused from then on', async () => {
    const { doc, space, value, bob } = await community()
    await runAction(bob, doc, 'posts/create', { text: 'before' })
    space.set(BOB, 'reader')
    await rejects(runAction(bob, doc, 'posts/create', { text: 'as a reader' }), 'NOT_ALLOWED')
    space.delete(BOB)
    await rejects(runAction(bob, doc, 'likes/set', { post: 'x' }), 'NOT_A_MEMBER')
    expect(allPosts(await value()).map((p) => p.text)).toEqual(['before'])
  })

  it('documents that are not the app’s are refused', async () => {
    const { state, bob } = await community()
    await rejects(runAction(bob, 'not-ours', 'posts/create', { text: 'hi' }), 'FORBIDDEN')
    expect(state.writes).toBe(0)
  })
})

describe('arguments', () => {
  it('malformed arguments are refused with INVALID_ARGS and write nothing', async () => {
    const { doc, state, bob } = await community()
    const bad: [ActionName, unknown][] = [
      ['profiles/set', undefined],
      ['profiles/set', { name: 5 }],
      ['profiles/set', { name: 'Bob', bio: 7 }],
      ['posts/create', 'hello'],
      ['posts/create', { text: ['hello'] }],
      ['posts/create', null],
      ['posts/reply', { text: 'hello' }],
      ['likes/set', {}],
      ['likes/unset', [1]],
      ['follows/set', { id: ALICE }],
      ['follows/unset', { identity: 1 }],
    ]
    for (const [name, args] of bad) {
      const p = bob.actions.run(name, doc, args)
      await expect(p).rejects.toBeInstanceOf(MicroblogError)
      await expect(p).rejects.toMatchObject({ code: 'INVALID_ARGS' })
      await expect(p).rejects.toThrow(name)
    }
    await rejects(bob.actions.run('community/init', doc, 'x'), 'NOT_ALLOWED') // guard first
    expect(state.writes).toBe(0)
  })

  it('the model’s checks still apply, with messages for the user', async () => {
    const { doc, state, bob } = await community()
    await rejects(runAction(bob, doc, 'posts/create', { text: '   ' }), 'EMPTY_POST')
    await rejects(runAction(bob, doc, 'posts/create', { text: 'x'.repeat(501) }), 'POST_TOO_LONG')
    await rejects(
      runAction(bob, doc, 'posts/reply', { parent: `${ALICE}/abc-defghij`, text: 'hi' }),
      'NO_SUCH_POST',
    )
    await rejects(runAction(bob, doc, 'likes/set', { post: '../x' }), 'INVALID_ID')
    await rejects(runAction(bob, doc, 'follows/set', { identity: BOB }), 'FOLLOW_SELF')
    await rejects(runAction(bob, doc, 'follows/set', { identity: 'bob' }), 'INVALID_ID')
    await rejects(runAction(bob, doc, 'profiles/set', { name: ' ' }), 'EMPTY_NAME')
    expect(state.writes).toBe(0)
  })
})

describe('roles and messages for the UI', () => {
  it('writers and admins write and invite; readers and non-members read', () => {
    expect([undefined, 'reader', 'writer', 'admin'].map((r) => canWrite(r as SpaceRole))).toEqual([
      false,
      false,
      true,
      true,
    ])
    expect(['reader', 'writer', 'admin'].map((r) => canInvite(r as SpaceRole))).toEqual([
      false,
      true,
      true,
    ])
    expect(hasRole('admin', 'admin')).toBe(true)
    expect(hasRole('writer', 'admin')).toBe(false)
    expect(hasRole(undefined, 'reader')).toBe(false)
  })

  it('a refusal keeps the guard’s message and says what to do', async () => {
    const { doc, carol, dave } = await community()
    const refused = await runAction(dave, doc, 'posts/create', { text: 'hi' }).catch(
      (e: unknown) => e,
    )
    expect(isRefusal(refused)).toBe(true)
    expect(errorText(refused)).toBe(
      'posts/create: you are not a member of this space. You are not a member of this community: ask a member for an invite to post.',
    )
    const reader = await runAction(carol, doc, 'likes/set', { post: 'a-bcde' }).catch(
      (e: unknown) => e,
    )
    expect(errorText(reader)).toMatch(
      /^likes\/set needs the writer role; you are a reader\. .*readers can only read/,
    )
    const invalid = new MicroblogError('EMPTY_POST', 'Write something first: the post is empty.')
    expect(isRefusal(invalid)).toBe(false)
    expect(errorText(invalid)).toBe(invalid.message)
    expect(errorText('boom')).toBe('boom')
    expect(READ_ONLY_NOTE).toBe('You can read this community; ask a member for an invite to post.')
  })
})
