import '../relay/polyfill.js'
import { installNodeWebSocket } from './node-websocket'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { setLogLevel, type LogLevel } from '../src/core/log'

// Node 20 has no global WebSocket (Node 22 does); libp2p's WebSockets transport dials with it.
installNodeWebSocket()

loadAutomergeNode()
setLogLevel((process.env.ORRERY_LOG as LogLevel | undefined) ?? 'error')
