export * from "./ipv4";
export * from "./reserved";
export * from "./allowed";
export * from "./protected";
