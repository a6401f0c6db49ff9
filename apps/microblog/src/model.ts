/**
 * The Microblog data model: pure functions over the app's state API and over plain document
 * values (no DOM), so the same code runs in the app and in Node tests.
 *
 * One community is one document; everything a person writes is under their own top-level key,
 * which only they may write (owned paths: only changes signed by <identityId> are accepted under
 * `~<identityId>`, by every peer):
 *
 *   /~<identityId>/profile                 = { name, bio, updatedAt }
 *   /~<identityId>/posts/<postId>          = { author: identityId, text, createdAt, replyTo? }
 *   /~<identityId>/likes/<postRef>         = createdAt
 *   /~<identityId>/follows/<followedId>    = createdAt
 *
 * A post is referenced by its author and id: `<authorId>/<postId>` (a "post ref"; `Post.id`).
 * Views take the author from the path and skip a post whose `author` field says otherwise.
 * Everything read back is validated: views skip what is malformed. Data of the layout before
 * owned paths (/profiles, /posts, /likes, /follows at the top) is ignored: anyone could have
 * written it in anyone's name.
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
  /** the post ref: `<author>/<postId>` */
  id: string
  author: string
  text: string
  createdAt: number
  /** the ref of the post this one replies to */
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

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/**
 * Whether `id` is an Ed25519 did:key in its canonical form: the only identities the platform
 * gives a key of their own (any other `~…` key is an ordinary key that anyone may write).
 */
export function isKeyIdentity(id: unknown): id is string {
  if (typeof id !== 'string' || !id.startsWith('did:key:z') || id.length > 64) return false
  let n = 0n
  for (const c of id.slice('did:key:z'.length)) {
    const d = BASE58.indexOf(c)
    if (d < 0) return false
    n = n * 58n + BigInt(d)
  }
  // 34 bytes: the multicodec 0xed 0x01, then the 32-byte public key (no leading zero bytes)
  return n >> 256n === 0xed01n && id[9] !== '1'
}

/** The top-level key only `id` may write under. */
export const ownKey = (id: string): string => `~${id}`

/** The reference of post `postId` by `author`. */
export const postRef = (author: string, postId: string): string => `${author}/${postId}`

/** A post ref's author and post id, or undefined when it is not one. */
export function parsePostRef(ref: unknown): { author: string; postId: string } | undefined {
  if (typeof ref !== 'string') return undefined
  const at = ref.lastIndexOf('/')
  const author = ref.slice(0, at)
  const postId = ref.slice(at + 1)
  return at > 0 && isIdentityId(author) && isPostId(postId) ? { author, postId } : undefined
}

export const isPostRef = (v: unknown): v is string => parsePostRef(v) !== undefined

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
  if (!isKeyIdentity(id)) throw new MicroblogError('INVALID_ID', `${what} is not an identity id`)
}

function checkPostRef(ref: string): void {
  if (!isPostRef(ref)) {
    throw new MicroblogError('INVALID_ID', `not a post reference: ${JSON.stringify(ref)}`)
  }
}

// ---- writes ------------------------------------------------------------------------------------

/** Creates the user's own top-level map in a new community (call once, after creating it). */
export async function initCommunity(w: Writer): Promise<void> {
  checkIdentity(w.me, 'you')
  const mine = pathOf(w.doc, ownKey(w.me))
  if ((await w.state.get(mine)) === undefined) await w.state.set(mine, {})
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
  await w.state.set(pathOf(w.doc, ownKey(w.me), 'profile'), value)
  return value
}

/**
 * Publishes a post by `w.me`; returns its ref (`<me>/<postId>`). Text is trimmed and must have
 * 1..500 characters.
 */
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
    checkPostRef(opts.replyTo)
    post.replyTo = opts.replyTo
  }
  await w.state.set(pathOf(w.doc, ownKey(w.me), 'posts', id), post)
  return postRef(w.me, id)
}

/** A reply to a post this peer knows (by its ref); returns the reply's ref. */
export async function reply(
  w: Writer,
  parent: string,
  text: string,
  now = Date.now(),
): Promise<string> {
  checkPostRef(parent)
  const t = checkPostText(text)
  if (getPost(await w.state.get(pathOf(w.doc)), parent) === undefined) {
    throw new MicroblogError('NO_SUCH_POST', 'The post you reply to does not exist (yet).')
  }
  return createPost(w, t, { replyTo: parent, now })
}

/** Likes a post (by its ref); liking it again changes nothing. */
export async function like(w: Writer, post: string, now = Date.now()): Promise<void> {
  checkIdentity(w.me, 'you')
  checkPostRef(post)
  const path = pathOf(w.doc, ownKey(w.me), 'likes', post)
  if (isTime(await w.state.get(path))) return
  await w.state.set(path, now)
}

/** Takes a like back; does nothing when there is none. */
export async function unlike(w: Writer, post: string): Promise<void> {
  checkIdentity(w.me, 'you')
  checkPostRef(post)
  await w.state.delete(pathOf(w.doc, ownKey(w.me), 'likes', post))
}

/** Follows someone else; following them again changes nothing. */
export async function follow(w: Writer, other: string, now = Date.now()): Promise<void> {
  checkIdentity(w.me, 'you')
  checkIdentity(other, 'the person to follow')
  if (other === w.me) throw new MicroblogError('FOLLOW_SELF', 'You cannot follow yourself.')
  const path = pathOf(w.doc, ownKey(w.me), 'follows', other)
  if (isTime(await w.state.get(path))) return
  await w.state.set(path, now)
}

export async function unfollow(w: Writer, other: string): Promise<void> {
  checkIdentity(w.me, 'you')
  checkIdentity(other, 'the person to unfollow')
  if (other === w.me) throw new MicroblogError('FOLLOW_SELF', 'You cannot unfollow yourself.')
  await w.state.delete(pathOf(w.doc, ownKey(w.me), 'follows', other))
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

/** Everyone's own corner: identity → the map under `~<identity>`. */
function corners(docValue: unknown): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = []
  for (const [k, v] of Object.entries(asRecord(docValue) ?? {})) {
    const id = k.slice(1)
    const o = asRecord(v)
    if (k.startsWith('~') && isKeyIdentity(id) && o !== undefined) out.push([id, o])
  }
  return out
}

/** One section (`profile`, `posts`, `likes`, `follows`) of identity `id`'s corner. */
function sectionOf(docValue: unknown, id: string, name: string): Record<string, unknown> {
  if (!isKeyIdentity(id)) return {}
  return asRecord(asRecord(asRecord(docValue)?.[ownKey(id)])?.[name]) ?? {}
}

/** A post as stored under its author's key; undefined when malformed or claiming another author. */
function readPost(author: string, id: string, v: unknown): Post | undefined {
  const o = asRecord(v)
  if (o === undefined || !isPostId(id) || !isKeyIdentity(author)) return undefined
  const { text, createdAt, replyTo } = o
  // the path says who wrote it (only they may write there); a disagreeing field is a forgery
  if (o.author !== undefined && o.author !== author) return undefined
  if (!isTime(createdAt) || typeof text !== 'string') return undefined
  const t = text.trim()
  if (t === '' || [...t].length > MAX_POST_LENGTH) return undefined
  const ref = postRef(author, id)
  if (replyTo !== undefined && (!isPostRef(replyTo) || replyTo === ref)) return undefined
  const post: Post = { id: ref, author, text: t, createdAt }
  if (replyTo !== undefined) post.replyTo = replyTo
  return post
}

const newestFirst = (a: Post, b: Post): number =>
  b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)

/** One post (by its ref), if it exists and is well-formed. */
export function getPost(docValue: unknown, ref: string): Post | undefined {
  const r = parsePostRef(ref)
  if (r === undefined) return undefined
  return readPost(r.author, r.postId, sectionOf(docValue, r.author, 'posts')[r.postId])
}

/** Every well-formed post, newest first. */
export function allPosts(docValue: unknown): Post[] {
  const out: Post[] = []
  for (const [author, corner] of corners(docValue)) {
    for (const [id, v] of Object.entries(asRecord(corner.posts) ?? {})) {
      const p = readPost(author, id, v)
      if (p !== undefined) out.push(p)
    }
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

/** The identities that like a post (by its ref), earliest like first. */
export function likesOf(docValue: unknown, ref: string): string[] {
  const out: [string, number][] = []
  for (const [id, corner] of corners(docValue)) {
    const at = asRecord(corner.likes)?.[ref]
    if (isTime(at)) out.push([id, at])
  }
  return out.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id)
}

export function likedBy(docValue: unknown, ref: string, id: string): boolean {
  return isTime(sectionOf(docValue, id, 'likes')[ref])
}

export function profileOf(docValue: unknown, id: string): Profile | undefined {
  const o = asRecord(sectionOf(docValue, id, 'profile'))
  if (o === undefined || !isKeyIdentity(id)) return undefined
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
  return Object.entries(sectionOf(docValue, id, 'follows'))
    .filter((e): e is [string, number] => isIdentityId(e[0]) && e[0] !== id && isTime(e[1]))
    .sort((a, b) => a[1] - b[1])
    .map(([other]) => other)
}

/** Who follows `id`. */
export function followersOf(docValue: unknown, id: string): string[] {
  const out: string[] = []
  for (const [follower, corner] of corners(docValue)) {
    if (follower !== id && isTime(asRecord(corner.follows)?.[id])) out.push(follower)
  }
  return out.sort()
}

export function isFollowing(docValue: unknown, me: string, other: string): boolean {
  if (!isIdentityId(me) || !isIdentityId(other) || me === other) return false
  return isTime(sectionOf(docValue, me, 'follows')[other])
}
