// Node 20 lacks Promise.withResolvers, which libp2p 3.x dependencies call (Node 22 has it).
// Loaded first: `node --import ./relay/polyfill.js` and the vitest setup file.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers() {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}
