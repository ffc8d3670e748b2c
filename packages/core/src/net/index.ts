export * from "./ipv4";
