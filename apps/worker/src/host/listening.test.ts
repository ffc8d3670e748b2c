import { describe, expect, it } from "vitest";
import { parseListeningPorts } from "./listening";

describe("parseListeningPorts", () => {
  it("reads the local port of every listening socket, any address, once each", () => {
    const ss = [
      "LISTEN 0      511    127.0.0.1:6379  0.0.0.0:*",
      "LISTEN 0      128      0.0.0.0:22    0.0.0.0:*",
      "LISTEN 0      128         [::]:22       [::]:*",
      "UNCONN 0      0    10.76.0.1%nf-fwn:53  0.0.0.0:*",
      "",
    ].join("\n");
    expect(parseListeningPorts(ss)).toEqual([22, 53, 6379]);
    expect(parseListeningPorts("")).toEqual([]);
  });
});
