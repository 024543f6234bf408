// Stand-in for @matrix-org/matrix-sdk-crypto-nodejs (see pnpm-workspace.yaml for why).
// matrix-bot-sdk requires this module when it loads but touches it only when a
// client enables end-to-end encryption, which the reconciler never does. Every
// export is a class whose use fails loudly instead of doing anything.
const unsupported = (name) => {
  const fail = () => {
    throw new Error(
      `@matrix-org/matrix-sdk-crypto-nodejs.${name}: end-to-end encryption is not available in the OpenMeet reconciler`,
    )
  }
  return new Proxy(function Unsupported() {}, {
    construct: fail,
    apply: fail,
    get: (_t, key) => (key === "prototype" ? {} : fail()),
  })
}
module.exports = new Proxy(
  {},
  {
    get: (_target, name) => (name === "__esModule" ? false : typeof name === "string" ? unsupported(name) : undefined),
  },
)
