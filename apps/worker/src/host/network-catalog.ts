/**
 * The worker's view of libvirt's networks on its host: names and states
 * from `net-list`, definitions parsed from `net-dumpxml`. Definitions are
 * cached by name+uuid (a redefinition by hand changes nothing we read often
 * enough to matter, and reconcile re-reads everything periodically).
 */
import { type ParsedNetwork, parseNetworkXml } from "@netforge/core";
import type { LibvirtNetworkState, Virsh } from "./virsh";

/** A libvirt network: its state plus parsed definition. */
export interface CatalogEntry extends LibvirtNetworkState {
  def: ParsedNetwork;
}

export class NetworkCatalog {
  private readonly defs = new Map<string, ParsedNetwork>();

  constructor(private readonly virsh: Virsh) {}

  /** Fresh list of networks; definitions read for names not cached (or all with `reread`). */
  async list(opts: { reread?: boolean } = {}): Promise<CatalogEntry[]> {
    const states = await this.virsh.listNetworks();
    const missing = states.filter((s) => opts.reread || !this.defs.has(s.name)).map((s) => s.name);
    if (missing.length > 0) {
      // The persistent definitions: they carry the spec as last written (a running network's live one may be older).
      const xmls = await this.virsh.dumpXmlMany(missing, { inactive: true });
      for (const [name, xml] of xmls) this.defs.set(name, parseNetworkXml(xml));
    }
    const names = new Set(states.map((s) => s.name));
    for (const n of this.defs.keys()) if (!names.has(n)) this.defs.delete(n);
    return states.flatMap((s) => {
      const def = this.defs.get(s.name);
      return def ? [{ ...s, def }] : [];
    });
  }

  /** Remember a definition we just wrote (saves a dumpxml). */
  remember(def: ParsedNetwork): void {
    this.defs.set(def.name, def);
  }

  /** The cached definition of a network, if any (no host read). */
  peek(name: string): ParsedNetwork | undefined {
    return this.defs.get(name);
  }

  forget(name: string): void {
    this.defs.delete(name);
  }
}
