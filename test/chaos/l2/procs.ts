/**
 * L2's processes: the real relay (relay/main.ts) and the peers (peer-main.ts), each a child
 * process in its own network namespace, so SIGKILL, SIGSTOP and SIGCONT are real signals.
 * `ip netns exec` execs the command in place: the child's pid is the node process's.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'
import type { ChaosNet } from './netns'
import type { PeerConfig, Reply, Request, RequestBody } from './protocol'

const NODE = [process.execPath, '--import', './relay/polyfill.js']
const REQUEST_MS = 30_000
/** the machine is shared and loaded: a start may take long, a hang still fails */
const START_MS = 120_000

/**
 * peer-main.ts bundled once per run (node_modules stay external, so they resolve from here):
 * a peer then starts in half the CPU time tsx takes, and L2 starts five of them at once and
 * restarts them during the schedule. The relay runs as `npm start` runs it, through tsx.
 */
const BUNDLE = path.resolve(`node_modules/.cache/chaos-l2/peer-main-${process.pid}.mjs`)

export async function bundlePeer(): Promise<void> {
  await build({
    entryPoints: ['test/chaos/l2/peer-main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    target: 'node20',
    outfile: BUNDLE,
    logLevel: 'warning',
  })
}

export function removeBundle(): void {
  rmSync(BUNDLE, { force: true })
}

export class ProcError extends Error {
  readonly code = 'CHAOS_PROC'
  constructor(message: string) {
    super(message)
    this.name = 'ProcError'
  }
}

/** Every child this run started (the test's cleanup SIGKILLs whatever is still there). */
const children = new Set<ChildProcess>()

export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
  children.clear()
}

function start(net: ChaosNet, host: string, argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const [cmd, ...args] = net.wrap(host, [...NODE, ...argv])
  const child = spawn(cmd as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => c.once('exit', () => r()))

/** Output kept for a failure's message (the last lines only). */
function tail(c: ChildProcess, into: string[]): void {
  const keep = (b: Buffer): void => {
    into.push(...b.toString('utf8').split('\n').filter(Boolean))
    if (into.length > 40) into.splice(0, into.length - 40)
  }
  c.stdout?.on('data', keep)
  c.stderr?.on('data', keep)
}

export class RelayProc {
  child: ChildProcess | undefined
  peerId = ''
  stopped = false
  readonly output: string[] = []
  readonly port = 8080

  constructor(
    private readonly net: ChaosNet,
    readonly host: string,
    private readonly dataDir: string,
  ) {}

  get addr(): string {
    return `/ip4/${this.net.host(this.host).ip}/tcp/${this.port}/ws/p2p/${this.peerId}`
  }

  get alive(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    )
  }

  /** Starts the relay; its key is on disk, so a restart keeps its peer id. */
  async start(): Promise<void> {
    const child = start(this.net, this.host, ['--import', 'tsx', 'relay/main.ts'], {
      HOST: this.net.host(this.host).ip,
      PORT: String(this.port),
      ORRERY_DATA_DIR: this.dataDir,
      ORRERY_DIST: path.join(this.dataDir, 'no-dist'),
      ORRERY_LOG: 'warn',
    })
    this.child = child
    tail(child, this.output)
    this.peerId = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ProcError('the relay did not start')), START_MS)
      child.stdout?.on('data', (b: Buffer) => {
        const m = /Orrery relay (\S+)/.exec(b.toString('utf8'))
        if (m) {
          clearTimeout(timer)
          resolve(m[1] as string)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new ProcError(`the relay exited (${code}): ${this.output.join('\n')}`))
      })
    })
    this.stopped = false
  }

  async kill(): Promise<void> {
    const c = this.child
    if (c === undefined) return
    c.kill('SIGKILL')
    await exited(c)
    this.stopped = false
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(sig)
    this.stopped = sig === 'SIGSTOP'
  }
}

export class PeerProc {
  child: ChildProcess | undefined
  peerId = ''
  incarnation = 0
  stopped = false
  readonly output: string[] = []
  private nextId = 1
  private readonly waiting = new Map<number, (r: Reply) => void>()

  constructor(
    private readonly net: ChaosNet,
    readonly name: string,
    private readonly config: Omit<
      PeerConfig,
      'incarnation' | 'ip' | 'relayAddr' | 'relayId' | 'flushed'
    >,
  ) {
    mkdirSync(path.dirname(config.file), { recursive: true })
  }

  get alive(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    )
  }

  /** Running and able to answer (alive, not SIGSTOPped). */
  get running(): boolean {
    return this.alive && !this.stopped
  }

  /** Starts (again, on the same log); resolves with the `flushed` keys its disk lacked. */
  async start(
    relay: Pick<RelayProc, 'addr' | 'peerId'>,
    flushed: PeerConfig['flushed'] = [],
  ): Promise<string[]> {
    this.incarnation++
    const cfg: PeerConfig = {
      ...this.config,
      flushed,
      incarnation: this.incarnation,
      ip: this.net.host(this.name).ip,
      relayAddr: relay.addr,
      relayId: relay.peerId,
    }
    const child = start(this.net, this.name, [BUNDLE], {
      L2_PEER: JSON.stringify(cfg),
    })
    this.child = child
    this.stopped = false
    tail(child, this.output)
    child.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id)
      this.waiting.delete(r.id)
      w?.(r)
    })
    child.once('exit', (code, sig) => {
      for (const w of this.waiting.values())
        w({ id: -1, ok: false, error: `${this.name} exited (${code ?? sig})` })
      this.waiting.clear()
    })
    const ready = await this.await(0, START_MS)
    this.peerId = ready.peerId ?? ''
    return ready.missing ?? []
  }

  private await(id: number, ms: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(
          new ProcError(`${this.name}: no answer to ${id} in ${ms} ms\n${this.output.join('\n')}`),
        )
      }, ms)
      this.waiting.set(id, (r) => {
        clearTimeout(timer)
        if (r.ok) resolve(r)
        else reject(new ProcError(`${this.name}: ${r.error}\n${this.output.join('\n')}`))
      })
    })
  }

  async request(req: RequestBody): Promise<Reply> {
    if (!this.running) throw new ProcError(`${this.name} is not running`)
    const id = this.nextId++
    const answer = this.await(id, REQUEST_MS)
    this.child?.send({ ...req, id } as Request)
    return answer
  }

  async kill(): Promise<void> {
    const c = this.child
    if (c === undefined) return
    c.kill('SIGKILL')
    await exited(c)
    this.stopped = false
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(sig)
    this.stopped = sig === 'SIGSTOP'
  }

  /** A graceful stop: everything flushed, then the process exits. */
  async stop(): Promise<void> {
    const c = this.child
    if (c === undefined || !this.alive) return
    await this.request({ op: 'stop' })
    await exited(c)
  }
}
