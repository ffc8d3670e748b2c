import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { FakeNft, webNetwork } from "./__fixtures__/fake-nft";
import { BootCopy } from "./boot-copy";
import { NftBackend } from "./nftables";

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "nf-bootcopy-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o755);
    rmSync(d, { recursive: true, force: true });
  }
});
const logger = pino({ level: "silent" });

/** A backend whose applies write a boot copy to a fresh scratch file. */
const withBootCopy = () => {
  const path = join(scratch(), "firewall.nft");
  const runner = new FakeNft();
  const copy = new BootCopy(path, logger);
  return { path, runner, copy, backend: new NftBackend(runner, copy) };
};

describe("BootCopy", () => {
  it("creates its directory and replaces the file whole, leaving no temp file", async () => {
    const path = join(scratch(), "hv1", "firewall.nft");
    const b = new BootCopy(path, logger);
    await b.write("one\n");
    expect(readFileSync(path, "utf8")).toBe("one\n");
    const ino = statSync(path).ino;
    await b.write("two\n");
    expect(readFileSync(path, "utf8")).toBe("two\n");
    expect(statSync(path).ino).not.toBe(ino); // a rename, not an overwrite in place
    expect(readdirSync(join(path, ".."))).toEqual(["firewall.nft"]);
    expect(b.warnings()).toEqual([]);
  });

  it("a failed write is a warning until a write succeeds; the file keeps its last complete content", async () => {
    if (process.getuid?.() === 0) {
      // root ignores directory permissions: make the directory a file instead.
      const d = scratch();
      const path = join(d, "x", "firewall.nft");
      writeFileSync(join(d, "x"), "not a directory");
      const b = new BootCopy(path, logger);
      await b.write("one\n");
      expect(b.warnings()[0]).toMatch(/firewall boot copy .* could not be written/);
      rmSync(join(d, "x"));
      await b.write("one\n"); // same text: written anyway, the last attempt failed
      expect(readFileSync(path, "utf8")).toBe("one\n");
      expect(b.warnings()).toEqual([]);
      return;
    }
    const d = scratch();
    const path = join(d, "firewall.nft");
    const b = new BootCopy(path, logger);
    await b.write("one\n");
    chmodSync(d, 0o555);
    await b.write("two\n");
    expect(b.warnings()).toHaveLength(1);
    expect(readFileSync(path, "utf8")).toBe("one\n");
  });
});

describe("NftBackend with a boot copy", () => {
  it("writes the boot copy (live table + guard) after every successful apply, forward-only changes too", async () => {
    const { path, copy, backend: b } = withBootCopy();
    await b.replace([webNetwork([8080])]);
    await copy.settled();
    expect(readFileSync(path, "utf8")).toContain("elements = { 8080 : 10.70.0.10 . 80 }");
    expect(readFileSync(path, "utf8")).toContain("netforge boot guard");
    await b.replace([webNetwork([8080, 9000])]); // an element update in the kernel; the copy is still the whole table
    await copy.settled();
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/^#!\/usr\/sbin\/nft -f\n(#.*\n)*table inet netforge \{\}\ndelete table inet netforge\n/);
    expect(text).toContain("elements = { 8080 : 10.70.0.10 . 80, 9000 : 10.70.0.10 . 80 }");
  });

  it("a failed apply leaves the copy as it was", async () => {
    const { path, runner: r, copy, backend: b } = withBootCopy();
    await b.replace([webNetwork([8080])]);
    await copy.settled();
    r.fail = true;
    await expect(b.replace([{ ...webNetwork([]), cidr: "10.71.0.0/24" }])).rejects.toThrow(/syntax error/);
    await copy.settled();
    expect(readFileSync(path, "utf8")).toContain("10.70.0.0/24");
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  it("clear leaves a copy with no network (the guard closes every netforge bridge)", async () => {
    const { path, copy, backend: b } = withBootCopy();
    await b.replace([webNetwork([8080])]);
    await b.clear();
    await copy.settled();
    const text = readFileSync(path, "utf8");
    expect(text).not.toContain("nf-web");
    expect(text).toContain('iifname "nf-*" oifname != "nf-*" counter drop');
  });

  it("applies in quick succession: writes coalesce and the copy ends as the last apply", async () => {
    const { path, copy, backend: b } = withBootCopy();
    for (let i = 0; i < 20; i++) await b.replace([webNetwork([8000 + i])]);
    await copy.settled();
    const text = readFileSync(path, "utf8");
    expect(text).toContain("elements = { 8019 : 10.70.0.10 . 80 }");
    expect(text).not.toContain("8018 :");
  });
});
