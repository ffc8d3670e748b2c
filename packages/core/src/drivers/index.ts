export * from "./model";
export * from "./type-of";
export * from "./registry";
export { isRouted, specFromCreate, type RoutedType } from "./routed";
