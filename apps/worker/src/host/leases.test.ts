import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { leaseRowsOf, mergeLeaseRows, readLeaseRows, restoreLeaseFile } from "./leases";

const NOW = 1_800_000_000_000;
const row = (ip: string, mac: string, expiry: number) => ({ "ip-address": ip, "mac-address": mac, hostname: "vm", "expiry-time": expiry });
let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const file = () => join(dir, "nfov10001.status");

describe("the dynamic leases a gateway move hands over", () => {
  it("keeps only rows that are leases and have not expired", () => {
    const live = row("10.0.0.5", "52:54:00:00:00:05", NOW / 1000 + 60);
    expect(leaseRowsOf([live, row("10.0.0.6", "52:54:00:00:00:06", NOW / 1000 - 1), { hostname: "x" }, null, 7], NOW)).toEqual([live]);
    expect(leaseRowsOf({ not: "a list" }, NOW)).toEqual([]);
  });

  it("reads a status file's live rows whole; none when there is no file or it does not parse", async () => {
    dir = mkdtempSync(join(tmpdir(), "nf-leases-"));
    expect(await readLeaseRows("nfov10001", dir, NOW)).toEqual([]);
    writeFileSync(file(), "{broken");
    expect(await readLeaseRows("nfov10001", dir, NOW)).toEqual([]);
    const live = { ...row("10.0.0.5", "52:54:00:00:00:05", NOW / 1000 + 60), "client-id": "01:52:54:00:00:00:05" };
    writeFileSync(file(), JSON.stringify([live, row("10.0.0.6", "52:54:00:00:00:06", NOW / 1000 - 1)]));
    expect(await readLeaseRows("nfov10001", dir, NOW)).toEqual([live]);
  });

  it("merges the handed rows over this host's (a row for a handed address or MAC goes), and the undo puts the file back", async () => {
    dir = mkdtempSync(join(tmpdir(), "nf-leases-"));
    const mine = [
      row("10.0.0.5", "52:54:00:00:00:99", NOW / 1000 + 60), // the handed address, another MAC: goes
      row("10.0.0.7", "52:54:00:00:00:06", NOW / 1000 + 60), // a handed MAC at another address: goes
      row("10.0.0.8", "52:54:00:00:00:08", NOW / 1000 + 60), // stays
    ];
    const before = JSON.stringify(mine);
    writeFileSync(file(), before);
    const handed = [row("10.0.0.5", "52:54:00:00:00:05", NOW / 1000 + 60), row("10.0.0.6", "52:54:00:00:00:06", NOW / 1000 + 60)];
    const previous = await mergeLeaseRows("nfov10001", dir, handed, NOW);
    expect(previous).toBe(before);
    expect(JSON.parse(readFileSync(file(), "utf8"))).toEqual([...handed, mine[2]]);
    await restoreLeaseFile("nfov10001", dir, previous);
    expect(readFileSync(file(), "utf8")).toBe(before);
  });

  it("without a file of its own, the merge writes the handed rows and the undo removes the file", async () => {
    dir = mkdtempSync(join(tmpdir(), "nf-leases-"));
    const handed = [row("10.0.0.5", "52:54:00:00:00:05", NOW / 1000 + 60)];
    const previous = await mergeLeaseRows("nfov10001", dir, handed, NOW);
    expect(previous).toBeNull();
    expect(JSON.parse(readFileSync(file(), "utf8"))).toEqual(handed);
    await restoreLeaseFile("nfov10001", dir, previous);
    expect(() => readFileSync(file(), "utf8")).toThrow();
  });
});
