export * from "./Matrix.ts"
export * from "./MatrixError.ts"
export * from "./Registration.ts"
export * from "./RoomState.ts"
