/**
 * The Microblog data model: pure functions over the app's state API and over plain document
 * values (no DOM), so the same code runs in the app and in Node tests.
 *
 * One community is one document:
 *
 *   /profiles/<identityId>             = { name, bio, updatedAt }
 *   /posts/<postId>                    = { author, text, createdAt, replyTo? }
 *   /likes/<postId>/<identityId>       = createdAt
 *   /follows/<identityId>/<followedId> = createdAt
 *
 * Every write touches only keys owned by the writer (their profile, their posts, their own entry
 * under a post's likes, their own follow entries), so concurrent writers never overwrite each
 * other, and a later signed-writes layer can check "author == signer" per key. Everything read
 * back is validated: another peer may have written anything, and views skip what is malformed.
 */
import type { AppStateApi } from '../../../src/core/apps/api'

export const MAX_POST_LENGTH = 500
export const MAX_NAME_LENGTH = 50
export const MAX_BIO_LENGTH = 280
const MAX_ID_LENGTH = 256

export type MicroblogErrorCode =
  | 'EMPTY_POST'
  | 'POST_TOO_LONG'
  | 'EMPTY_NAME'
  | 'NAME_TOO_LONG'
  | 'BIO_TOO_LONG'
  | 'FOLLOW_SELF'
  | 'NO_SUCH_POST'
  | 'INVALID_ID'
  | 'INVALID_ARGS'

/** Invalid input from the user; `message` is meant to be shown to them. */
export class MicroblogError extends Error {
  readonly code: MicroblogErrorCode
  constructor(code: MicroblogErrorCode, message: string) {
    super(message)
    this.code = code
    this.name = 'MicroblogError'
  }
}

/** Who writes where: the app's state API, the community document and the user's identity. */
export interface Writer {
  state: AppStateApi
  doc: string
  me: string
}

export interface Profile {
  name: string
  bio: string
  updatedAt: number
}

export interface Post {
  id: string
  author: string
  text: string
  createdAt: number
  replyTo?: string
}

// ---- paths and ids -----------------------------------------------------------------------------

/** One path segment, escaped as in JSON Pointer: `~` becomes `~0`, `/` becomes `~1`. */
export function key(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1')
}

/** The state path of `keys` inside document `doc`. */
export function pathOf(doc: string, ...keys: string[]): string {
  return `/${doc}${keys.map((k) => `/${key(k)}`).join('')}`
}

/** An identity id as the model accepts it: a DID, short enough to be a key. */
export function isIdentityId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 4 && v.length <= MAX_ID_LENGTH && v.startsWith('did:')
}

const POST_ID = /^[0-9a-z]{1,12}-[0-9a-z]{4,32}$/

export function isPostId(v: unknown): v is string {
  return typeof v === 'string' && POST_ID.test(v)
}

/**
 * A new post id: the time in base 36 (fixed width, so ids sort by time as strings) and random
 * characters, so peers never pick the same id without talking to each other.
 */
export function newPostId(now = Date.now()): string {
  const bytes = new Uint8Array(10)
  crypto.getRandomValues(bytes)
  const rand = Array.from(bytes, (b) => (b % 36).toString(36)).join('')
  return `${Math.max(0, Math.floor(now)).toString(36).padStart(9, '0')}-${rand}`
}

/** A short, stable stand-in for an identity that has no display name. */
export function shortId(id: string): string {
  return id.length <= 12 ? id : `…${id.slice(-8)}`
}

// ---- validation of input -----------------------------------------------------------------------

/** The text of a post as it will be stored, or a MicroblogError saying what is wrong. */
export function checkPostText(text: string): string {
  const t = typeof text === 'string' ? text.trim() : ''
  if (t === '') throw new MicroblogError('EMPTY_POST', 'Write something first: the post is empty.')
  if ([...t].length > MAX_POST_LENGTH) {
    throw new MicroblogError(
      'POST_TOO_LONG',
      `A post can have at most ${MAX_POST_LENGTH} characters (this one has ${[...t].length}).`,
    )
  }
  return t
}

function checkIdentity(id: string, what: string): void {
  if (!isIdentityId(id)) throw new MicroblogError('INVALID_ID', `${what} is not an identity id`)
}

function checkPostId(id: string): void {
  if (!isPostId(id)) throw new MicroblogError('INVALID_ID', `not a post id: ${JSON.stringify(id)}`)
}

// ---- writes ------------------------------------------------------------------------------------

/** Creates the top-level maps of a new community (call once, right after creating the doc). */
export async function initCommunity(state: AppStateApi, doc: string): Promise<void> {
  const value = await state.get(pathOf(doc))
  const root = asRecord(value) ?? {}
  for (const name of ['profiles', 'posts', 'likes', 'follows']) {
    if (root[name] === undefined) await state.set(pathOf(doc, name), {})
  }
}

export async function setProfile(
  w: Writer,
  profile: { name: string; bio?: string },
  now = Date.now(),
): Promise<Profile> {
  checkIdentity(w.me, 'you')
  const name = typeof profile.name === 'string' ? profile.name.trim() : ''
  const bio = typeof profile.bio === 'string' ? profile.bio.trim() : ''
  if (name === '') throw new MicroblogError('EMPTY_NAME', 'Choose a display name.')
  if ([...name].length > MAX_NAME_LENGTH) {
    throw new MicroblogError(
      'NAME_TOO_LONG',
      `A display name can have at most ${MAX_NAME_LENGTH} characters.`,
    )
  }
  if ([...bio].length > MAX_BIO_LENGTH) {
    throw new MicroblogError('BIO_TOO_LONG', `A bio can have at most ${MAX_BIO_LENGTH} characters.`)
  }
  const value: Profile = { name, bio, updatedAt: now }
  await w.state.set(pathOf(w.doc, 'profiles', w.me), value)
  return value
}

/** Publishes a post by `w.me`; returns its id. Text is trimmed and must have 1..500 characters. */
export async function createPost(
  w: Writer,
  text: string,
  opts: { replyTo?: string; now?: number } = {},
): Promise<string> {
  checkIdentity(w.me, 'you')
  const t = checkPostText(text)
  const now = opts.now ?? Date.now()
  const id = newPostId(now)
  const post: Omit<Post, 'id'> = { author: w.me, text: t, createdAt: now }
  if (opts.replyTo !== undefined) {
    checkPostId(opts.replyTo)
    post.replyTo = opts.replyTo
  }
  await w.state.set(pathOf(w.doc, 'posts', id), post)
  return id
}

/** A reply to a post this peer knows; returns the reply's id. */
export async function reply(
  w: Writer,
  parentId: string,
  text: string,
  now = Date.now(),
): Promise<string> {
  checkPostId(parentId)
  const t = checkPostText(text)
  if (readPost(parentId, await w.state.get(pathOf(w.doc, 'posts', parentId))) === undefined) {
    throw new MicroblogError('NO_SUCH_POST', 'The post you reply to does not exist (yet).')
  }
  return createPost(w, t, { replyTo: parentId, now })
}

/** Likes a post; liking it again changes nothing. */
export async function like(w: Writer, postId: string, now = Date.now()): Promise<void> {
  checkIdentity(w.me, 'you')
  checkPostId(postId)
  const path = pathOf(w.doc, 'likes', postId, w.me)
  if (isTime(await w.state.get(path))) return
  await w.state.set(path, now)
}

/** Takes a like back; does nothing when there is none. */
export async function unlike(w: Writer, postId: string): Promise<void> {
  checkIdentity(w.me, 'you')
  checkPostId(postId)
  await w.state.delete(pathOf(w.doc, 'likes', postId, w.me))
}

/** Follows someone else; following them again changes nothing. */
export async function follow(w: Writer, other: string, now = Date.now()): Promise<void> {
  checkIdentity(w.me, 'you')
  checkIdentity(other, 'the person to follow')
  if (other === w.me) throw new MicroblogError('FOLLOW_SELF', 'You cannot follow yourself.')
  const path = pathOf(w.doc, 'follows', w.me, other)
  if (isTime(await w.state.get(path))) return
  await w.state.set(path, now)
}

export async function unfollow(w: Writer, other: string): Promise<void> {
  checkIdentity(w.me, 'you')
  checkIdentity(other, 'the person to unfollow')
  if (other === w.me) throw new MicroblogError('FOLLOW_SELF', 'You cannot unfollow yourself.')
  await w.state.delete(pathOf(w.doc, 'follows', w.me, other))
}

// ---- views over a document value (validated; malformed entries are skipped) --------------------

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0
}

function section(docValue: unknown, name: string): Record<string, unknown> {
  return asRecord(asRecord(docValue)?.[name]) ?? {}
}

function readPost(id: string, v: unknown): Post | undefined {
  const o = asRecord(v)
  if (o === undefined || !isPostId(id)) return undefined
  const { author, text, createdAt, replyTo } = o
  if (!isIdentityId(author) || !isTime(createdAt) || typeof text !== 'string') return undefined
  const t = text.trim()
  if (t === '' || [...t].length > MAX_POST_LENGTH) return undefined
  if (replyTo !== undefined && (!isPostId(replyTo) || replyTo === id)) return undefined
  const post: Post = { id, author, text: t, createdAt }
  if (replyTo !== undefined) post.replyTo = replyTo
  return post
}

const newestFirst = (a: Post, b: Post): number =>
  b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

/** One post, if it exists and is well-formed. */
export function getPost(docValue: unknown, postId: string): Post | undefined {
  return readPost(postId, section(docValue, 'posts')[postId])
}

/** Every well-formed post, newest first. */
export function allPosts(docValue: unknown): Post[] {
  const out: Post[] = []
  for (const [id, v] of Object.entries(section(docValue, 'posts'))) {
    const p = readPost(id, v)
    if (p !== undefined) out.push(p)
  }
  return out.sort(newestFirst)
}

/** Posts by the people `me` follows and by `me`, newest first (replies carry `replyTo`). */
export function timeline(docValue: unknown, me: string): Post[] {
  const authors = new Set(followingOf(docValue, me))
  authors.add(me)
  return allPosts(docValue).filter((p) => authors.has(p.author))
}

/** The post, then every reply to it (and replies to those) oldest first; [] when it is absent. */
export function thread(docValue: unknown, postId: string): Post[] {
  const root = getPost(docValue, postId)
  if (root === undefined) return []
  const posts = allPosts(docValue)
  const inThread = new Set([root.id])
  // replies may arrive in any order: grow the set until nothing more joins it (no cycles can
  // join: the root is included first and a post joins only once)
  for (let grew = true; grew;) {
    grew = false
    for (const p of posts) {
      if (p.replyTo !== undefined && !inThread.has(p.id) && inThread.has(p.replyTo)) {
        inThread.add(p.id)
        grew = true
      }
    }
  }
  const replies = posts.filter((p) => p.id !== root.id && inThread.has(p.id)).reverse()
  return [root, ...replies]
}

/** Direct replies to a post, oldest first. */
export function repliesTo(docValue: unknown, postId: string): Post[] {
  return allPosts(docValue)
    .filter((p) => p.replyTo === postId)
    .reverse()
}

/** The identities that like a post, earliest like first. */
export function likesOf(docValue: unknown, postId: string): string[] {
  const likes = asRecord(section(docValue, 'likes')[postId]) ?? {}
  return Object.entries(likes)
    .filter((e): e is [string, number] => isIdentityId(e[0]) && isTime(e[1]))
    .sort((a, b) => a[1] - b[1])
    .map(([id]) => id)
}

export function likedBy(docValue: unknown, postId: string, id: string): boolean {
  const likes = asRecord(section(docValue, 'likes')[postId])
  return isIdentityId(id) && isTime(likes?.[id])
}

export function profileOf(docValue: unknown, id: string): Profile | undefined {
  const o = asRecord(section(docValue, 'profiles')[id])
  if (o === undefined || !isIdentityId(id)) return undefined
  const name = typeof o.name === 'string' ? o.name.trim() : ''
  if (name === '' || [...name].length > MAX_NAME_LENGTH) return undefined
  const bio = typeof o.bio === 'string' && [...o.bio].length <= MAX_BIO_LENGTH ? o.bio : ''
  return { name, bio, updatedAt: isTime(o.updatedAt) ? o.updatedAt : 0 }
}

/** The display name of an identity, or a short form of its id. */
export function profileName(docValue: unknown, id: string): string {
  return profileOf(docValue, id)?.name ?? shortId(String(id))
}

/** Whom `id` follows, in the order they were followed. */
export function followingOf(docValue: unknown, id: string): string[] {
  const mine = asRecord(section(docValue, 'follows')[id]) ?? {}
  return Object.entries(mine)
    .filter((e): e is [string, number] => isIdentityId(e[0]) && e[0] !== id && isTime(e[1]))
    .sort((a, b) => a[1] - b[1])
    .map(([other]) => other)
}

/** Who follows `id`. */
export function followersOf(docValue: unknown, id: string): string[] {
  const out: string[] = []
  for (const [follower, v] of Object.entries(section(docValue, 'follows'))) {
    if (follower === id || !isIdentityId(follower)) continue
    if (isTime(asRecord(v)?.[id])) out.push(follower)
  }
  return out.sort()
}

export function isFollowing(docValue: unknown, me: string, other: string): boolean {
  if (!isIdentityId(me) || !isIdentityId(other) || me === other) return false
  return isTime(asRecord(section(docValue, 'follows')[me])?.[other])
}
