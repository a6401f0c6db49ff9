/**
 * L2's network: one namespace per process (relay, each peer) joined by veth pairs to a bridge in
 * a hub namespace of its own (so nothing is added to the namespace the test runs in), and the
 * faults: nftables drops (random loss with `numgen random`, a partition as drop-all between two
 * addresses) and a `tbf` rate limit on a namespace's veth. `tc netem` is missing on this kernel.
 *
 * Names carry the test's pid (`cl2-<pid>-…`): every run's are its own, and a later run deletes
 * what a run that died without cleaning up left (its pid no longer alive).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'

const PREFIX = 'cl2-'

export class NetError extends Error {
  readonly code = 'CHAOS_NET'
  constructor(message: string) {
    super(message)
    this.name = 'NetError'
  }
}

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    })
  } catch (e) {
    const err = e as { stderr?: string }
    throw new NetError(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() ?? String(e)}`)
  }
}

const has = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Why L2 cannot run here, or undefined when it can. Installs Debian's nftables when `nft` is
 * missing and we are root (inside the test command's `unshare -n` there is no network for
 * apt-get: scripts/test.sh installs it before entering the namespace).
 */
export function cannotRun(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not root (network namespaces need it)'
  if (!has('ip')) return 'no `ip` (iproute2)'
  if (!has('tc')) return 'no `tc` (iproute2)'
  if (!has('nft') && has('apt-get')) {
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', 'nftables'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        timeout: 120_000,
      })
    } catch {
      // reported below
    }
  }
  if (!has('nft')) return 'no `nft` and apt-get could not install nftables'
  const probe = `${PREFIX}${process.pid}-probe`
  try {
    run('ip', ['netns', 'add', probe])
    run('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe'])
  } catch (e) {
    return `cannot make a network namespace with nftables: ${(e as Error).message}`
  } finally {
    try {
      run('ip', ['netns', 'del', probe])
    } catch {
      // it was never made
    }
  }
  return undefined
}

/** Deletes the namespaces of runs whose process is gone (a run killed before its cleanup). */
export function removeStale(): void {
  if (!existsSync('/var/run/netns')) return
  for (const ns of readdirSync('/var/run/netns')) {
    const m = /^cl2-(\d+)-/.exec(ns)
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1])))
      try {
        run('ip', ['netns', 'del', ns])
      } catch {
        // another run is deleting it
      }
  }
}

export interface Host {
  name: string
  ns: string
  ip: string
  /** its end of the veth pair (inside its namespace) */
  dev: string
}

export class ChaosNet {
  readonly hosts = new Map<string, Host>()
  private readonly hub: string
  private readonly tag: string
  private made: string[] = []

  constructor() {
    // interface names are 15 bytes at most: a short tag per run
    this.tag = `c${(process.pid % 100000).toString(36)}`
    this.hub = `${PREFIX}${process.pid}-hub`
  }

  /** The hub with its bridge (10.66.0.1), then one namespace per name, 10.66.0.10 on. */
  setup(names: string[]): void {
    removeStale()
    this.addNs(this.hub)
    run('ip', ['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge'])
    run('ip', ['-n', this.hub, 'addr', 'add', '10.66.0.1/24', 'dev', 'br0'])
    run('ip', ['-n', this.hub, 'link', 'set', 'br0', 'up'])
    names.forEach((name, i) => {
      const ns = `${PREFIX}${process.pid}-${name}`
      const outer = `${this.tag}h${i}`
      const dev = `${this.tag}p${i}`
      this.addNs(ns)
      // made in the hub (not in our own namespace), one end moved to the host's namespace
      run('ip', ['-n', this.hub, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', dev])
      run('ip', ['-n', this.hub, 'link', 'set', dev, 'netns', ns])
      run('ip', ['-n', this.hub, 'link', 'set', outer, 'master', 'br0'])
      run('ip', ['-n', this.hub, 'link', 'set', outer, 'up'])
      const ip = `10.66.0.${10 + i}`
      run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev])
      run('ip', ['-n', ns, 'link', 'set', dev, 'up'])
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
      this.hosts.set(name, { name, ns, ip, dev })
      this.resetRules(name)
    })
  }

  private addNs(ns: string): void {
    run('ip', ['netns', 'add', ns])
    this.made.push(ns)
  }

  host(name: string): Host {
    const h = this.hosts.get(name)
    if (h === undefined) throw new NetError(`no host ${name}`)
    return h
  }

  private nft(name: string, script: string): void {
    run('ip', ['netns', 'exec', this.host(name).ns, 'nft', '-f', '-'], script)
  }

  /** A fresh table: an input and an output chain with no rules (nothing dropped). */
  resetRules(name: string): void {
    const h = this.host(name)
    const exists = run('ip', ['netns', 'exec', h.ns, 'nft', 'list', 'tables']).includes('chaos')
    this.nft(
      name,
      `${exists ? 'delete table inet chaos\n' : ''}table inet chaos {
  chain in { type filter hook input priority 0; policy accept; }
  chain out { type filter hook output priority 0; policy accept; }
}
`,
    )
  }

  /** Drops `percent` of the packets `name` receives and of those it sends, at random. */
  loss(name: string, percent: number): void {
    this.nft(
      name,
      `add rule inet chaos in iifname "${this.host(name).dev}" numgen random mod 100 < ${percent} drop
add rule inet chaos out oifname "${this.host(name).dev}" numgen random mod 100 < ${percent} drop
`,
    )
  }

  /** Nothing passes between `a` and `b` (rules on both sides). */
  partition(a: string, b: string): void {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const other = this.host(y).ip
      this.nft(
        x,
        `add rule inet chaos in ip saddr ${other} drop\nadd rule inet chaos out ip daddr ${other} drop\n`,
      )
    }
  }

  /** At most `kbit` per second out of `name` (tbf on its veth end). */
  rate(name: string, kbit: number): void {
    const h = this.host(name)
    run(
      'ip',
      ['netns', 'exec', h.ns, 'tc', 'qdisc', 'replace', 'dev', h.dev, 'root', 'tbf'].concat([
        'rate',
        `${kbit}kbit`,
        'burst',
        '16kb',
        'latency',
        '200ms',
      ]),
    )
  }

  /** The queueing discipline on `name`'s veth end (`tc qdisc show`). */
  qdisc(name: string): string {
    const h = this.host(name)
    return run('ip', ['netns', 'exec', h.ns, 'tc', 'qdisc', 'show', 'dev', h.dev])
  }

  /** Every rule and rate limit gone. */
  heal(): void {
    for (const h of this.hosts.values()) {
      this.resetRules(h.name)
      try {
        run('ip', ['netns', 'exec', h.ns, 'tc', 'qdisc', 'del', 'dev', h.dev, 'root'])
      } catch {
        // no rate limit was set
      }
    }
  }

  /** The command, to be run in `name`'s namespace. */
  wrap(name: string, argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns, ...argv]
  }

  /** Deletes every namespace this run made (their veths and the bridge go with them). */
  cleanup(): void {
    for (const ns of this.made.reverse())
      try {
        run('ip', ['netns', 'del', ns])
      } catch {
        // already gone
      }
    this.made = []
    this.hosts.clear()
  }
}
