/**
 * configure-network-hosts { gatewayHost } (issue 17, ADR 0051 "Gateway move"): an overlay's gateway moved from
 * its gateway host (the coordinator, under the network's lock) to another member, all or nothing.
 *
 * The order keeps the outage short and never has two gateways answering:
 * 1. the new gateway's part and every other member's part are queued at once (members.ts, borrowing the lock);
 *    the other members wait for "go", then write their definition with the new gateway host and point the
 *    gateway's fixed MAC (the same on every gateway host) at it;
 * 2. the new gateway checks its host (the subnet free there), takes its member part down (ports off the bridge,
 *    libvirt's stop, its bridge removed) and writes its gateway definition, then says "prepared";
 * 3. the coordinator stops the old gateway (ports off, libvirt's stop: its address, dnsmasq and bridge go), and
 *    says "go";
 * 4. the new gateway starts (libvirt makes the bridge, address, dnsmasq), its ports come back (the VXLAN device
 *    first), its table part (masquerade, MSS clamp, forwards) is applied, a gratuitous ARP announces the address,
 *    and its DHCP must answer; meanwhile the old gateway host becomes a member (its bridge, libvirt's start, its
 *    ports, its table part as a member's).
 * A failure anywhere undoes every step on every host (each step's inverse; the new gateway's part is undone by the
 * reverse move, registered once the old gateway is down, so the undo stops the new one before the old one starts).
 * Once every part succeeded, the index follows: the network's record, spec, name/subnet claim and port claims
 * move to the new gateway host (the network's host is its gateway host).
 */
import { AppError, type JobPayloads } from "@netforge/core/contract";
import {
  checkGatewayMove,
  GATEWAY_DOWN_STEP,
  GATEWAY_UP_STEP,
  gatewaySpecFromXml,
  type OverlayNetSpec,
  overlayModel,
  planGatewayMove,
  planRoleChange,
  specAfterMove,
} from "@netforge/core/model";
import {
  assertPortClaims,
  getJob,
  isTerminal,
  moveNetworkClaim,
  type NetworkRecord,
  portField,
  putNetwork,
  putNetworkSpec,
  releasePortClaims,
} from "@netforge/core/store";
import type { JobContext } from "../context";
import { driverOf } from "../drivers/registry";
import { waitForDhcp } from "../host/dhcp-probe";
import { assertNoOverlap, occupiedSubnets } from "../host/host-checks";
import { assertIpv6ForwardingSafe, assertNoOverlap6, readRaInterfaces } from "../host/ipv6-checks";
import { readLinks, readRoutes } from "../host/ip";
import { leaseRowsOf, mergeLeaseRows, readLeaseRows, restoreLeaseFile } from "../host/leases";
import type { CatalogEntry } from "../host/network-catalog";
import { readProtectedEndpoints } from "../host/protected";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { publishRecord } from "./common";
import { partTimeoutOf, startMemberParts } from "./members";

type Payload = JobPayloads["configure-network-hosts"];
type Move = NonNullable<Payload["gateway"]>;

const POLL_MS = 25;
const SIGNAL_TTL_S = 600;

/** The ports on `bridge` now (VMs' and the VXLAN device). */
async function portsOn(ctx: JobContext, bridge: string): Promise<string[]> {
  return (await readLinks(ctx.runner)).filter((l) => l.master === bridge).map((l) => l.name);
}

/** Poll `key` until it has a value (returned), `give` says to stop (null), or the bound passes (null). */
async function signal(ctx: JobContext, key: string, give: () => Promise<boolean>): Promise<string | null> {
  const deadline = Date.now() + partTimeoutOf(ctx);
  for (;;) {
    const v = await ctx.redis.get(key);
    if (v !== null) return v;
    if ((await give()) || Date.now() > deadline) return null;
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
}

export async function moveGateway(ctx: JobContext, p: Payload, entry: CatalogEntry, spec: OverlayNetSpec): Promise<NetworkRecord> {
  const move = p.gateway as Move;
  return ctx.parentJob ? movePart(ctx, p, move, entry, spec) : coordinate(ctx, p, move, entry, spec);
}

/** The coordinator's checks (in its "checking members" step): the move as the door checked it, still valid here. */
export function checkMoveHere(ctx: JobContext, p: Payload, spec: OverlayNetSpec): void {
  const move = p.gateway as Move;
  if (move.from !== ctx.hostId) {
    throw new AppError("INVALID_STATE", `the gateway of '${p.name}' moves from ${move.from}, not from ${ctx.hostId}`, {
      name: p.name,
      permanent: true,
    });
  }
  checkGatewayMove(spec, move.to, { add: p.add, remove: p.remove });
  const same = spec.members.length === p.members.length && spec.members.every((m, i) => m.id === p.members[i]?.id);
  if (!same) {
    throw new AppError(
      "INVALID_STATE",
      `the members of overlay '${p.name}' changed since the request was checked (now ${spec.members.map((m) => m.id).join(", ")}): nothing was changed, retry`,
      { name: p.name, permanent: true },
    );
  }
}

/** The old gateway host: the job's coordinator. */
async function coordinate(ctx: JobContext, p: Payload, move: Move, entry: CatalogEntry, spec: OverlayNetSpec): Promise<NetworkRecord> {
  const { report, revert } = ctx;
  const jobId = report.record.id;
  // The whole job as the dry run planned it from the published spec (expectPlan: nothing runs otherwise).
  assertPlanAsPreviewed(ctx, planGatewayMove(spec, move.to, { active: entry.active }));

  // The parts carry this definition: the new gateway takes the gateway's parts (range, reservations, DNS
  // records, forwards) from it. Each is undone by the reverse move.
  const xml = overlayModel.render(spec);
  const there: Payload = { ...p, gateway: { ...move, xml } };
  const back: Payload = { ...p, gateway: { from: move.to, to: move.from, xml } };
  const prepared = ctx.keys.gatewayMove(jobId, "prepared");
  const go = ctx.keys.gatewayMove(jobId, "go");
  const gw = await startMemberParts(
    ctx,
    "configure-network-hosts",
    [move.to],
    () => there,
    () => back,
    undefined,
    { deferUndo: true },
  );
  const others = spec.members.map((m) => m.id).filter((h) => h !== ctx.hostId && h !== move.to);
  const rest =
    others.length > 0
      ? await startMemberParts(
          ctx,
          "configure-network-hosts",
          others,
          () => there,
          () => back,
        )
      : null;

  // A job that fails before "go" tells the new gateway's part to give up (it undoes its own steps), and the other
  // members' parts (waiting for "go" to point the gateway's MAC at the new gateway) to go on without it. Registered
  // after their undo, so it runs before it (the revert runs last in, first out).
  revert.add("tell the new gateway to give up", async () => void (await ctx.redis.set(go, "abort", "EX", SIGNAL_TTL_S, "NX")));
  const part = gw.ids[0] as { host: string; id: string };
  const ready = await report.step(`host ${move.to}: preparing the gateway`, () =>
    signal(ctx, prepared, async () => {
      const r = await getJob(ctx.redis, ctx.keys, part.id);
      return r !== null && isTerminal(r.state);
    }),
  );
  if (ready === null) {
    await gw.wait(); // its failure, named (a part that ended without saying "prepared" failed)
    throw new AppError("HOST_UNAVAILABLE", `host ${move.to} did not prepare the gateway of '${p.name}' in time; nothing was changed`, {
      host: move.to,
      name: p.name,
    });
  }

  const change = planRoleChange(spec, specAfterMove(spec, move.to, null), await portsOn(ctx, spec.bridge), entry.active);
  const port = hostPortOf(ctx);
  await report.step(GATEWAY_DOWN_STEP, async () => {
    await runPhase(port, revert, { step: GATEWAY_DOWN_STEP, hostSteps: change.down });
    // Its dynamic leases (final: its dnsmasq has stopped) go with the gateway: the new one's dnsmasq starts with them.
    const leases = await readLeaseRows(spec.bridge, ctx.leasesDir);
    if (leases.length > 0) await ctx.redis.set(ctx.keys.gatewayMove(jobId, "leases"), JSON.stringify(leases), "EX", SIGNAL_TTL_S);
  });
  // From here the new gateway may run: its undo (the reverse move) must come before this host's gateway restarts.
  gw.registerUndo();
  await ctx.redis.set(go, "down", "EX", SIGNAL_TTL_S);
  await report.step(GATEWAY_UP_STEP, () => runPhase(port, revert, { step: GATEWAY_UP_STEP, hostSteps: [...change.define, ...change.up] }));
  // (The other members' parts first: their definitions and gateway-MAC entries, written once "go" was set.)
  await rest?.wait();
  await gw.wait();

  // The index follows the gateway: the record and spec as the new gateway host's, its claims there.
  const newSpec: OverlayNetSpec = { ...spec, self: move.to, gatewayHost: move.to };
  const rec = driverOf(entry).record({ ...entry, def: { ...entry.def, spec: newSpec } }, move.to, new Date().toISOString());
  await report.fence?.("publishing the new gateway host");
  await putNetwork(ctx.redis, ctx.keys, rec);
  await putNetworkSpec(ctx.redis, ctx.keys, newSpec);
  await moveNetworkClaim(ctx.redis, ctx.keys, p.name, move.from, move.to);
  const fields = (spec.portForwards ?? []).map((f) => portField(f.protocol, f.hostPort, f.hostIp));
  await assertPortClaims(ctx.redis, ctx.keys, move.to, p.name, fields);
  await releasePortClaims(ctx.redis, ctx.keys, move.from, p.name);
  return rec;
}

/** A member's part: the new gateway's (prepare, wait for the old one to stop, start), or a definition's. */
async function movePart(ctx: JobContext, p: Payload, move: Move, entry: CatalogEntry, spec: OverlayNetSpec): Promise<NetworkRecord> {
  const { report, revert } = ctx;
  const promote = move.to === ctx.hostId && spec.gatewayHost !== ctx.hostId;
  const gateway = promote ? gatewaySpecFromXml(move.xml ?? "", p.name) : null;
  const next = specAfterMove(spec, move.to, gateway);
  const port = hostPortOf(ctx);
  if (!promote) {
    // Another member (its definition names the new gateway), or the new gateway given back by an undo.
    const change = planRoleChange(spec, next, await portsOn(ctx, spec.bridge), entry.active);
    // A member that stays one writes its definition and points the gateway's MAC at the new gateway once the old
    // one is down ("go"): earlier, its VMs' frames to the gateway would go to a host that is not one yet (and the
    // unicast sync, which follows the definition's gateway host, would move them early too).
    const stays = (spec.gatewayHost === ctx.hostId) === (next.gatewayHost === ctx.hostId);
    if (stays && entry.active) {
      const parent = ctx.parentJob as { jobId: string };
      const go = await report.step("waiting for the old gateway to stop", () =>
        signal(ctx, ctx.keys.gatewayMove(parent.jobId, "go"), async () => {
          const r = await getJob(ctx.redis, ctx.keys, parent.jobId);
          return r !== null && isTerminal(r.state);
        }),
      );
      // Given up (or no answer): the definition only, as the coordinator's undo takes it back.
      if (go !== "down") {
        await report.step(GATEWAY_UP_STEP, () => runPhase(port, revert, { step: GATEWAY_UP_STEP, hostSteps: change.define }));
        return publishRecord(ctx, { ...entry, def: { ...entry.def, spec: next } }, entry.active);
      }
    }
    await report.step(GATEWAY_UP_STEP, () =>
      runPhase(port, revert, { step: GATEWAY_UP_STEP, hostSteps: [...change.down, ...change.define, ...change.up] }),
    );
    return publishRecord(ctx, { ...entry, def: { ...entry.def, spec: next } }, entry.active);
  }
  const parent = ctx.parentJob as { jobId: string };
  const change = await report.step("checking the host", async () => {
    // The gateway's subnet must be free on this host (an address or route of the host in it would clash).
    const [links, routes, endpoints, catalog] = await Promise.all([
      readLinks(ctx.runner),
      readRoutes(ctx.runner),
      readProtectedEndpoints(ctx),
      ctx.catalog.list(),
    ]);
    const others = catalog.filter((c) => c.name !== p.name);
    assertNoOverlap(next.cidr, ctx.hostId, occupiedSubnets(links, routes, others, p.name, endpoints));
    // An IPv6 overlay (ADR 0051 "IPv6 on overlays"): the prefix free here too, and no route the forwarding would lose.
    if (next.ipv6) {
      assertNoOverlap6(next.ipv6.cidr, ctx.hostId, links, others, p.name);
      assertIpv6ForwardingSafe(await readRaInterfaces(ctx.runner), ctx.hostId);
    }
    const ports = links.filter((l) => l.master === spec.bridge).map((l) => l.name);
    return planRoleChange(spec, next, ports, entry.active);
  });
  await report.step("preparing the gateway", () =>
    runPhase(port, revert, { step: "preparing the gateway", hostSteps: [...change.down, ...change.define] }),
  );
  await ctx.redis.set(ctx.keys.gatewayMove(parent.jobId, "prepared"), ctx.hostId, "EX", SIGNAL_TTL_S);
  const go = await report.step("waiting for the old gateway to stop", () =>
    signal(ctx, ctx.keys.gatewayMove(parent.jobId, "go"), async () => false),
  );
  if (go !== "down") {
    throw new AppError("INVALID_STATE", `the move of '${p.name}''s gateway was given up by its coordinator (${go ?? "no answer"})`, {
      name: p.name,
      permanent: true,
    });
  }
  await report.step(GATEWAY_UP_STEP, async () => {
    // The old gateway's dynamic leases, into this host's status file before its dnsmasq starts (which reads them
    // through libvirt's leaseshelper): a VM keeps its address and no new VM is offered one that is held.
    const handed = leaseRowsOf(JSON.parse((await ctx.redis.get(ctx.keys.gatewayMove(parent.jobId, "leases"))) ?? "[]"));
    if (handed.length > 0) {
      const previous = await mergeLeaseRows(spec.bridge, ctx.leasesDir, handed);
      revert.add("put the lease file back", () => restoreLeaseFile(spec.bridge, ctx.leasesDir, previous), GATEWAY_UP_STEP);
      ctx.logger.info({ network: p.name, leases: handed.length }, "dynamic leases taken over from the old gateway");
    }
    await runPhase(port, revert, { step: GATEWAY_UP_STEP, hostSteps: change.up });
    // The new gateway's DHCP must answer before the move counts as done (else everything is undone).
    if (entry.active && overlayModel.servesDhcp(next)) await waitForDhcp(ctx.runner, next.bridge, 3000, next.name);
  });
  return publishRecord(ctx, { ...entry, def: { ...entry.def, spec: next } }, entry.active);
}
