export * from "./ipv4";
export * from "./ipv6";
export * from "./reserved";
export * from "./allowed";
export * from "./protected";
