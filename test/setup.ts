import '../relay/polyfill.js'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { setLogLevel } from '../src/core/log'

loadAutomergeNode()
setLogLevel(process.env.ORRERY_LOG === undefined ? 'error' : (process.env.ORRERY_LOG as 'debug'))
