/**
 * The catalog's bookkeeping against a scripted libvirt: events re-read one network, our own writes
 * apply at once, list() reads nothing while the stream is live, and a dead stream means reading the
 * host per call until the restarted stream has re-listed. (Real libvirt: test/e2e-catalog.test.ts.)
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { renderNetworkXml, specFromCreate } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import type { CommandResult, CommandRunner, InteractiveProcess } from "./command-runner";
import { NetworkCatalog } from "./network-catalog";
import { Virsh } from "./virsh";

const xmlOf = (name: string, description = "") =>
  renderNetworkXml(
    specFromCreate({
      name,
      type: "nat",
      uuid: randomUUID(),
      host: "h1",
      description,
      cidr: "10.5.0.0/24",
      gateway: "10.5.0.1",
      dhcp: { enabled: true, start: "10.5.0.100", end: "10.5.0.150", leaseTime: 600 },
      autostart: false,
      bridge: `nf-${name}`,
      createdAt: "2026-11-29T00:00:00.000Z",
    }),
  );

class FakeStream implements InteractiveProcess {
  private out: ((c: string) => void)[] = [];
  private exits: (() => void)[] = [];
  killed = false;
  write(): void {}
  onStdout(fn: (c: string) => void): void {
    this.out.push(fn);
  }
  onStderr(): void {}
  onExit(fn: () => void): void {
    this.exits.push(fn);
  }
  kill(): void {
    if (this.killed) return;
    this.killed = true;
    for (const fn of this.exits) fn();
  }
  emit(name: string, ev: string): void {
    for (const fn of this.out) fn(`event 'lifecycle' for network ${name}: ${ev}\n`);
  }
}

/** libvirt as a map; one-shot virsh commands only (no sessions), plus the event stream processes. */
class FakeLibvirt implements CommandRunner {
  nets = new Map<string, { xml: string; active: boolean }>();
  listCalls = 0;
  reads = 0;
  streams: FakeStream[] = [];

  async run(_cmd: string, args: readonly string[]): Promise<CommandResult> {
    const line = args.slice(3).join(" "); // after -c <uri> -q
    const outs: string[] = [];
    for (const c of line.split(" ; ")) {
      const w = c.trim().split(/\s+/);
      const name = w.at(-1) as string;
      const net = this.nets.get(name);
      if (w[0] === "net-list") {
        this.listCalls += 1;
        outs.push([...this.nets].map(([n, v]) => ` ${n} ${v.active ? "active" : "inactive"} no yes`).join("\n"));
        continue;
      }
      this.reads += 1;
      if (w[0] === "net-define") {
        const xml = await readFile(name, "utf8");
        this.nets.set(/<name>([^<]+)</.exec(xml)?.[1] as string, { xml, active: false });
        continue;
      }
      if (!net) return { stdout: "", stderr: "error: Network not found: no network with matching name", exitCode: 1 };
      if (w[0] === "net-info") outs.push(`Name: ${name}\nActive: ${net.active ? "yes" : "no"}\nPersistent: yes\nAutostart: no\n`);
      else if (w[0] === "net-dumpxml") outs.push(net.xml);
      else if (w[0] === "net-start") net.active = true;
      else throw new Error(`unexpected ${c}`);
    }
    return { stdout: outs.join("\n"), stderr: "", exitCode: 0 };
  }
}

/** The same fake, able to start the event stream (kept apart so Virsh itself runs one-shot commands). */
const streamRunner = (lv: FakeLibvirt): CommandRunner => ({
  run: (c, a) => lv.run(c, a),
  spawnInteractive: () => {
    const s = new FakeStream();
    lv.streams.push(s);
    return s;
  },
});

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function live(lv: FakeLibvirt): Promise<{ catalog: NetworkCatalog; virsh: Virsh }> {
  const virsh = new Virsh(lv, "test:///x");
  const catalog = new NetworkCatalog(virsh, { settleMs: 5, minBackoffMs: 5, maxBackoffMs: 20 });
  await catalog.start(streamRunner(lv));
  return { catalog, virsh };
}

describe("NetworkCatalog", () => {
  it("starts from one full list, then follows events without listing again", async () => {
    const lv = new FakeLibvirt();
    lv.nets.set("a", { xml: xmlOf("a"), active: true });
    const { catalog } = await live(lv);
    expect(catalog.stats().live).toBe(true);
    expect((await catalog.list()).map((e) => [e.name, e.active])).toEqual([["a", true]]);
    expect(lv.listCalls).toBe(1);

    lv.nets.set("b", { xml: xmlOf("b", "by hand"), active: false });
    lv.streams[0]?.emit("b", "Defined");
    expect((await catalog.list()).find((e) => e.name === "b")?.def.description).toBe("by hand");

    (lv.nets.get("b") as { active: boolean }).active = true;
    lv.streams[0]?.emit("b", "Started");
    expect((await catalog.list()).find((e) => e.name === "b")?.active).toBe(true);

    lv.nets.set("b", { xml: xmlOf("b", "redefined"), active: true });
    lv.streams[0]?.emit("b", "Defined");
    await catalog.list();
    expect(catalog.get("b")?.def.description).toBe("redefined");

    lv.nets.delete("a");
    lv.streams[0]?.emit("a", "Stopped");
    lv.streams[0]?.emit("a", "Undefined");
    expect((await catalog.list()).map((e) => e.name)).toEqual(["b"]);
    expect(lv.listCalls).toBe(1);
    catalog.close();
  });

  it("applies netforge's own define and start at once, before any event", async () => {
    const lv = new FakeLibvirt();
    const { catalog, virsh } = await live(lv);
    await virsh.define(xmlOf("own"));
    expect(catalog.get("own")).toMatchObject({ active: false, persistent: true, def: { name: "own", managed: true } });
    await virsh.start("own");
    expect(catalog.get("own")?.active).toBe(true);
    expect(lv.listCalls).toBe(1);
    catalog.close();
  });

  it("a dead stream: list() reads the host per call; the restarted stream re-lists and is live again", async () => {
    const lv = new FakeLibvirt();
    const { catalog } = await live(lv);
    lv.streams[0]?.kill(); // libvirtd restarted
    expect(catalog.stats().live).toBe(false);
    lv.nets.set("missed", { xml: xmlOf("missed"), active: false }); // defined while nobody listened
    expect((await catalog.list()).map((e) => e.name)).toEqual(["missed"]);
    expect(lv.listCalls).toBe(2);
    for (let i = 0; i < 100 && !catalog.stats().live; i++) await tick(5);
    expect(catalog.stats()).toMatchObject({ live: true, streamStarts: 2 });
    const calls = lv.listCalls;
    await catalog.list();
    expect(lv.listCalls).toBe(calls);
    catalog.close();
    expect(lv.streams.at(-1)?.killed).toBe(true);
  });
});
