export { withServices as default } from "../../vitest.shared.ts"
