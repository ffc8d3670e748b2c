import { describe, expect, it } from "vitest";
import { LineSplitter, parseNetEventLine } from "./net-events";

describe("parseNetEventLine", () => {
  it("reads the four lifecycle events", () => {
    for (const ev of ["Defined", "Undefined", "Started", "Stopped"] as const) {
      expect(parseNetEventLine(`event 'lifecycle' for network web: ${ev}`)).toEqual({ name: "web", event: ev });
    }
  });

  it("accepts the --timestamp prefix and a trailing CR", () => {
    expect(parseNetEventLine("2026-11-29 10:13:57.359+0000: event 'lifecycle' for network t1: Defined\r")).toEqual({
      name: "t1",
      event: "Defined",
    });
  });

  it("keeps names with spaces and colons (the event is after the last ': ')", () => {
    expect(parseNetEventLine("event 'lifecycle' for network my net: x: Stopped")).toEqual({ name: "my net: x", event: "Stopped" });
  });

  it("an unknown lifecycle detail still names the network (the catalog re-reads it)", () => {
    expect(parseNetEventLine("event 'lifecycle' for network web: Renamed")).toEqual({ name: "web", event: "other" });
  });

  it("ignores other event types and other lines", () => {
    expect(parseNetEventLine("event 'metadata-change' for network web: type element, uri x")).toBeNull();
    expect(parseNetEventLine("events received: 4")).toBeNull();
    expect(parseNetEventLine("")).toBeNull();
    expect(parseNetEventLine("error: Disconnected from qemu:///system due to end of file")).toBeNull();
    expect(parseNetEventLine("event 'lifecycle' for network : Started")).toBeNull();
  });
});

describe("LineSplitter", () => {
  it("joins lines split across chunks and keeps the unfinished tail", () => {
    const s = new LineSplitter();
    expect(s.push("event 'lifecycle' for net")).toEqual([]);
    expect(s.push("work a: Started\nevent 'lifecycle' for network b: Sto")).toEqual(["event 'lifecycle' for network a: Started"]);
    expect(s.push("pped\n\n")).toEqual(["event 'lifecycle' for network b: Stopped", ""]);
  });
});
