export * from "./bridge-name";
export * from "./network-xml";
export * from "./xml-escape";
export * from "./nft";
export * from "./nft-boot";
export * from "./nft-bridge";
export * from "./tc-qos";
export * from "./vxlan";
