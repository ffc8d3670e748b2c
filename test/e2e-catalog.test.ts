/**
 * The worker's network catalog follows libvirt's events on a real sandbox
 * host: networks defined, redefined, started, destroyed and undefined by
 * hand with raw virsh show up in the catalog within a second, without the
 * catalog listing the host again; and after a libvirtd restart (its event
 * stream dies) it reconnects, re-lists, and follows events again.
 */
import { randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderNetworkXml, specFromCreate } from "@netforge/core/model";
import { createSandboxHost, destroySandboxHost, restartLibvirtd, type SandboxHost } from "@netforge/sandbox";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecaRunner } from "@netforge/worker";
import { NetworkCatalog, Virsh } from "@netforge/worker/testing";

let h: SandboxHost;
let virsh: Virsh;
let catalog: NetworkCatalog;

beforeAll(async () => {
  h = await createSandboxHost({ id: "cat" });
  virsh = new Virsh(new ExecaRunner(), h.libvirtUri);
  catalog = new NetworkCatalog(virsh, { logger: pino({ level: "silent" }) });
  await catalog.start(new ExecaRunner());
});
afterAll(async () => {
  catalog?.close();
  virsh?.close();
  if (h) await destroySandboxHost(h);
});

/** A netforge-rendered network definition written where the host's virsh can read it. */
async function xmlFile(name: string, third: number, description = ""): Promise<string> {
  const xml = renderNetworkXml(
    specFromCreate({
      name,
      type: "nat",
      uuid: randomUUID(),
      host: "cat",
      description,
      cidr: `10.66.${third}.0/24`,
      gateway: `10.66.${third}.1`,
      dhcp: { enabled: true, start: `10.66.${third}.100`, end: `10.66.${third}.150`, leaseTime: 600 },
      autostart: false,
      bridge: `nf-${name}`,
      createdAt: new Date().toISOString(),
    }),
  );
  const file = join(h.dir, `${name}-${randomUUID()}.xml`);
  await writeFile(file, xml);
  return file;
}

async function raw(args: string[]): Promise<void> {
  const r = await h.virsh(args);
  if (r.exitCode !== 0) throw new Error(`virsh ${args.join(" ")}: ${r.stderr}`);
}

/** Wait (cache reads only, no host read) until `ok` holds; the time it took, or throw after `ms`. */
async function within(ms: number, ok: () => boolean): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

describe("network catalog from libvirt events", () => {
  it("follows define, start, redefine, destroy and undefine by hand within a second, without listing", async () => {
    expect(catalog.stats().live).toBe(true);
    const relists = catalog.stats().relists;

    await raw(["net-define", await xmlFile("hand1", 1, "first")]);
    await within(1000, () => catalog.get("hand1")?.def.description === "first");
    expect(catalog.get("hand1")).toMatchObject({ active: false, persistent: true, def: { managed: true, bridge: "nf-hand1" } });

    await raw(["net-start", "hand1"]);
    await within(1000, () => catalog.get("hand1")?.active === true);

    // Redefined by hand while running (same name and uuid, new description): the persistent definition is re-read.
    const uuid = catalog.get("hand1")?.def.uuid as string;
    const redefined = (await h.virsh(["net-dumpxml", "--inactive", "hand1"])).stdout.replace(
      /<nf:description>[^<]*</,
      "<nf:description>second<",
    );
    expect(redefined).toContain("second");
    const file = join(h.dir, "hand1-redefined.xml");
    await writeFile(file, redefined);
    await raw(["net-define", file]);
    await within(1000, () => catalog.get("hand1")?.def.description === "second");
    expect(catalog.get("hand1")?.def.uuid).toBe(uuid);
    expect(catalog.get("hand1")?.active).toBe(true);

    await raw(["net-destroy", "hand1"]);
    await within(1000, () => catalog.get("hand1")?.active === false);

    await raw(["net-undefine", "hand1"]);
    await within(1000, () => catalog.get("hand1") === undefined);

    // Undefined while running: transient until stopped, then gone.
    await raw(["net-define", await xmlFile("hand2", 2)]);
    await raw(["net-start", "hand2"]);
    await within(1000, () => catalog.get("hand2")?.active === true);
    await raw(["net-undefine", "hand2"]);
    await within(1000, () => catalog.get("hand2")?.persistent === false);
    await raw(["net-destroy", "hand2"]);
    await within(1000, () => catalog.get("hand2") === undefined);

    // list() answers from the cache: no net-list of the host for any of this.
    for (let i = 0; i < 5; i++) await catalog.list();
    expect(catalog.stats().relists).toBe(relists);
    expect(catalog.stats().events).toBeGreaterThanOrEqual(9); // 5 events of hand1, 4 of hand2
  });

  it("netforge's own writes are in the catalog before libvirt's event arrives", async () => {
    const file = await xmlFile("own1", 3);
    await virsh.define(await readFile(file, "utf8"));
    expect(catalog.get("own1")).toMatchObject({ active: false, def: { name: "own1" } });
    await virsh.start("own1");
    expect(catalog.get("own1")?.active).toBe(true);
    await virsh.destroy("own1");
    expect(catalog.get("own1")?.active).toBe(false);
    await virsh.undefine("own1");
    expect(catalog.get("own1")).toBeUndefined();
    // ...and the events that follow do not bring it back.
    await new Promise((r) => setTimeout(r, 300));
    await catalog.list();
    expect(catalog.get("own1")).toBeUndefined();
  });

  it("survives a libvirtd restart: reconnects, re-lists what changed meanwhile, and follows events again", async () => {
    await raw(["net-define", await xmlFile("keep", 4)]);
    await raw(["net-define", await xmlFile("gone", 5)]);
    await within(1000, () => catalog.get("keep") !== undefined && catalog.get("gone") !== undefined);
    const starts = catalog.stats().streamStarts;

    h = await restartLibvirtd(h);
    // Changed right after the restart, likely before the stream is back: the re-list on reconnect must catch it.
    await raw(["net-undefine", "gone"]);
    await within(10_000, () => catalog.stats().live && catalog.stats().streamStarts > starts);
    await within(1000, () => catalog.get("gone") === undefined);
    expect(catalog.get("keep")).toBeDefined();

    // Following events again on the new daemon.
    await raw(["net-define", await xmlFile("after", 6)]);
    await within(1000, () => catalog.get("after") !== undefined);
    await raw(["net-undefine", "after"]);
    await raw(["net-undefine", "keep"]);
    await within(1000, () => catalog.get("after") === undefined && catalog.get("keep") === undefined);
    expect((await catalog.list()).map((e) => e.name)).toEqual([]);
  });
});
