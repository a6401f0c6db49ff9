import { concatBytes, sha256, utf8 } from '../bytes'

/** The rendezvous topic of an app (by its manifest CID): the peers that hold it and serve its blocks. */
export function appTopic(manifestCid: string): Uint8Array {
  return sha256(concatBytes([utf8('orrery/app-topic/v1:'), utf8(manifestCid)]))
}

/** The rendezvous topic of the peers following an app (publisher key and name): releases travel there. */
export function followTopic(publisher: string, name: string): Uint8Array {
  return sha256(concatBytes([utf8('orrery/follow-topic/v1:'), utf8(`${publisher}/${name}`)]))
}

/** Which app a document belongs to: the publisher and the app's name (stable across versions). */
export function appKey(manifest: { publisher: string; name: string }): string {
  return `${manifest.publisher}/${manifest.name}`
}
