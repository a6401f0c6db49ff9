/**
 * The Microblog's writes as named, guarded actions. The root element defines them once when it
 * gets its AppApi (`defineActions(api.actions)`); components write only through `runAction`,
 * which goes through the shell's `api.actions.run`: the shell checks that the identity is loaded,
 * the document is the app's and the user is a member of its space with at least the action's
 * role, and only then calls `run` here with ctx = { me, doc, state }. The action writes as
 * `ctx.me` (never as someone named in the arguments) through the pure model functions.
 *
 * Every peer checks the signed changes again against the space's members: the guard here spares
 * the user a write that would be refused, it is not what keeps outsiders out.
 */
import type { ActionContext, AppApi, SpaceRole } from '../../../src/core/apps/api'
import {
  MicroblogError,
  createPost,
  follow,
  initCommunity,
  like,
  reply,
  setProfile,
  unfollow,
  unlike,
  type Profile,
  type Writer,
} from './model'

/** Each action: its arguments and what it returns. */
export interface MicroblogActions {
  /** the user's own top-level map (right after `docs.create()`) */
  'community/init': { args: undefined; result: void }
  'profiles/set': { args: { name: string; bio?: string }; result: Profile }
  /** returns the new post's ref (`<author>/<postId>`) */
  'posts/create': { args: { text: string }; result: string }
  /** `parent` is a post ref; returns the reply's ref */
  'posts/reply': { args: { parent: string; text: string }; result: string }
  'likes/set': { args: { post: string }; result: void }
  'likes/unset': { args: { post: string }; result: void }
  'follows/set': { args: { identity: string }; result: void }
  'follows/unset': { args: { identity: string }; result: void }
}
export type ActionName = keyof MicroblogActions

/** The least role each action needs in the community's space: readers only read. */
export const ACTION_ROLES: Readonly<Record<ActionName, SpaceRole>> = {
  'community/init': 'admin',
  'profiles/set': 'writer',
  'posts/create': 'writer',
  'posts/reply': 'writer',
  'likes/set': 'writer',
  'likes/unset': 'writer',
  'follows/set': 'writer',
  'follows/unset': 'writer',
}

const RANK: Readonly<Record<SpaceRole, number>> = { reader: 1, writer: 2, admin: 3 }

/** Whether `role` (undefined: not a member) is at least `needed`. */
export function hasRole(role: SpaceRole | undefined, needed: SpaceRole): boolean {
  return role !== undefined && RANK[role] >= RANK[needed]
}

/** Members who may post, like, follow and edit their profile: writers and admins. */
export const canWrite = (role: SpaceRole | undefined): boolean => hasRole(role, 'writer')

/** Who may make invite links: writers (writers and readers) and admins (any role). */
export const canInvite = (role: SpaceRole | undefined): boolean => hasRole(role, 'writer')

// ---- argument validation -----------------------------------------------------------------------

function invalid(name: ActionName, expected: string): MicroblogError {
  return new MicroblogError('INVALID_ARGS', `${name}: expected ${expected}`)
}

/** The arguments as a plain object whose `fields` are strings (`optional` ones may be absent). */
function fields<K extends string, O extends string = never>(
  name: ActionName,
  args: unknown,
  required: readonly K[],
  optional: readonly O[] = [],
): Record<K, string> & Partial<Record<O, string>> {
  const shape = [...required.map((k) => `${k}: string`), ...optional.map((k) => `${k}?: string`)]
  const expected = `{ ${shape.join(', ')} }`
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw invalid(name, expected)
  }
  const o = args as Record<string, unknown>
  const out: Record<string, string> = {}
  for (const k of required) {
    const v = o[k]
    if (typeof v !== 'string') throw invalid(name, expected)
    out[k] = v
  }
  for (const k of optional) {
    const v = o[k]
    if (v === undefined) continue
    if (typeof v !== 'string') throw invalid(name, expected)
    out[k] = v
  }
  return out as Record<K, string> & Partial<Record<O, string>>
}

// ---- the actions -------------------------------------------------------------------------------

type Impl = (w: Writer, args: unknown) => Promise<unknown>

const writerOf = (ctx: ActionContext): Writer => ({ state: ctx.state, doc: ctx.doc, me: ctx.me })

const IMPLS: Readonly<Record<ActionName, Impl>> = {
  'community/init': async (w, args) => {
    if (args !== undefined) fields('community/init', args, []) // no arguments, or {}
    await initCommunity(w)
  },
  'profiles/set': async (w, args) => {
    const { name, bio } = fields('profiles/set', args, ['name'], ['bio'])
    return setProfile(w, bio === undefined ? { name } : { name, bio })
  },
  'posts/create': async (w, args) => createPost(w, fields('posts/create', args, ['text']).text),
  'posts/reply': async (w, args) => {
    const { parent, text } = fields('posts/reply', args, ['parent', 'text'])
    return reply(w, parent, text)
  },
  'likes/set': async (w, args) => like(w, fields('likes/set', args, ['post']).post),
  'likes/unset': async (w, args) => unlike(w, fields('likes/unset', args, ['post']).post),
  'follows/set': async (w, args) => follow(w, fields('follows/set', args, ['identity']).identity),
  'follows/unset': async (w, args) =>
    unfollow(w, fields('follows/unset', args, ['identity']).identity),
}

export const ACTION_NAMES = Object.keys(ACTION_ROLES) as ActionName[]

const defined = new WeakSet<object>()

/** Defines every Microblog action on the app's action registry (once per registry). */
export function defineActions(actions: Pick<AppApi['actions'], 'define'>): void {
  if (defined.has(actions)) return
  for (const name of ACTION_NAMES) {
    const impl = IMPLS[name]
    actions.define(name, {
      role: ACTION_ROLES[name],
      run: (ctx, args) => impl(writerOf(ctx), args),
    })
  }
  defined.add(actions)
}

/** Runs a Microblog action on a community through the shell's guard (typed arguments and result). */
export async function runAction<N extends ActionName>(
  api: Pick<AppApi, 'actions'>,
  docId: string,
  name: N,
  ...args: MicroblogActions[N]['args'] extends undefined ? [] : [MicroblogActions[N]['args']]
): Promise<MicroblogActions[N]['result']> {
  const result = await api.actions.run(name, docId, args[0])
  return result as MicroblogActions[N]['result']
}

// ---- errors for people -------------------------------------------------------------------------

/** The guard's refusal codes: the user is not a member, or their role does not allow the action. */
export function isRefusal(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return code === 'NOT_A_MEMBER' || code === 'NOT_ALLOWED'
}

export const READ_ONLY_NOTE = 'You can read this community; ask a member for an invite to post.'

/** What to tell the user about a failed action: its message, and for a refusal what to do. */
export function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e)
  if (!isRefusal(e)) return text
  const hint =
    (e as { code: string }).code === 'NOT_A_MEMBER'
      ? 'You are not a member of this community: ask a member for an invite to post.'
      : 'Your role in this community does not allow this (readers can only read).'
  return `${text.replace(/\.?\s*$/, '.')} ${hint}`
}
