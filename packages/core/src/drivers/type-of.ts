/**
 * Which type a libvirt network is: the one answer every part asks (the worker's driver lookup, the index
 * record, the metadata parser). A leaf: it imports only the schemas, so the renderer can use it too.
 */
import type { NetworkType } from "../schemas/network";

/** What a network's definition says about its type (a parsed definition, or a catalog entry's). */
export interface TypedDefinition {
  /** The spec kept in netforge's metadata, when there is one. */
  spec?: { type: NetworkType } | null;
  /** The type named in netforge's metadata (older metadata kept only this). */
  type: NetworkType | null;
  /** libvirt's <forward mode>, null without a <forward> element. */
  forwardMode: string | null;
}

/**
 * The type of a network: its spec's, else its metadata's, else what libvirt's own definition implies (a
 * <forward mode='nat'/> network is nat, one without forwarding isolated), for metadata older than both.
 */
export function typeOf(def: TypedDefinition): NetworkType {
  return def.spec?.type ?? def.type ?? (def.forwardMode === "nat" ? "nat" : "isolated");
}

/** The type of a catalog entry (a network as the worker's catalog lists it). */
export const typeOfEntry = (entry: { def: TypedDefinition }): NetworkType => typeOf(entry.def);
