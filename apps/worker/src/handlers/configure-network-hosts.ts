/**
 * configure-network-hosts (issue 17, ADR 0051): an overlay's member hosts added and removed in one job.
 *
 * The coordinator runs on the gateway host under the network's lock: the removed members' parts are taken down
 * first (a delete's part on each: it refuses while VMs are attached there, and is undone by creating the part
 * again), then, at the same time, every other remaining member's update (a part of this action: flood entries
 * toward the added, none toward the removed, the guard's member set, the definition's member list), each added
 * member's part (a create's part with the new member list: bridge, VXLAN device, flood entries toward every
 * member, guard, libvirt network) and the gateway's own update. All or nothing: a part that
 * fails fails the job, and every part that succeeded is taken back by its registered undo (members.ts). The
 * index record and the published spec carry the new member list once every host did its part.
 */
import { AppError, type JobPayloads } from "@netforge/core/contract";
import {
  memberCreatePayload,
  membersDiff,
  nextOverlayMembers,
  type OverlayMember,
  type OverlayNetSpec,
  overlayModel,
  planMembersChange,
  planMembersUpdate,
} from "@netforge/core/model";
import { type NetworkRecord, putNetworkSpec } from "@netforge/core/store";
import type { JobContext } from "../context";
import { assertPlanAsPreviewed, hostPortOf, runPhase } from "../plan-executor";
import { loadManaged, publishRecord } from "./common";
import { checkMoveHere, moveGateway } from "./gateway-move";
import { type MemberParts, startMemberParts, startMembershipParts } from "./members";

type Payload = JobPayloads["configure-network-hosts"];

const sameMembers = (a: readonly OverlayMember[], b: readonly OverlayMember[]): boolean =>
  a.length === b.length && a.every((m, i) => m.id === b[i]?.id && m.ip === b[i]?.ip);

export async function configureNetworkHosts(ctx: JobContext, p: Payload): Promise<NetworkRecord> {
  const { report, revert } = ctx;
  const { entry, spec } = await report.step("checking members", async () => {
    const entry = await loadManaged(ctx, p.name);
    const spec = entry.def.spec;
    if (!spec || !overlayModel.is(spec)) {
      throw new AppError(
        "UNSUPPORTED_FOR_TYPE",
        `network '${p.name}' is of type ${spec?.type ?? "unknown"}: only overlay networks have member hosts`,
        { name: p.name, type: spec?.type ?? null, permanent: true },
      );
    }
    if (spec.self !== ctx.hostId) {
      throw new AppError("INVALID_STATE", `the definition of '${p.name}' on host ${ctx.hostId} is for host ${spec.self}`, {
        name: p.name,
        host: ctx.hostId,
        permanent: true,
      });
    }
    if (!ctx.parentJob) {
      if (spec.gatewayHost !== ctx.hostId) {
        throw new AppError("INVALID_STATE", `host ${ctx.hostId} is not the gateway host of overlay '${p.name}' (${spec.gatewayHost})`, {
          name: p.name,
          permanent: true,
        });
      }
      if (p.gateway) {
        checkMoveHere(ctx, p, spec);
        return { entry, spec };
      }
      // The member list the door computed must follow from this definition (a change in between: ask again).
      const ipOf = (id: string) => p.members.find((m) => m.id === id)?.ip ?? "";
      const want = nextOverlayMembers(spec, { add: p.add, remove: p.remove }, ipOf);
      if (!sameMembers(want, p.members)) {
        throw new AppError(
          "INVALID_STATE",
          `the members of overlay '${p.name}' changed since the request was checked (now ${spec.members.map((m) => m.id).join(", ")}): nothing was changed, retry`,
          { name: p.name, permanent: true },
        );
      }
    }
    return { entry, spec };
  });

  // Moving the gateway (gatewayHost): a job of its own shape (gateway-move.ts).
  if (p.gateway) return moveGateway(ctx, p, entry, spec);

  let waits: MemberParts[] = [];
  if (!ctx.parentJob) {
    // The whole job across hosts as the dry run planned it from the published spec (expectPlan: nothing runs otherwise).
    assertPlanAsPreviewed(ctx, planMembersChange(spec, p.members, { active: entry.active, autostart: entry.autostart }));
    waits = await startParts(ctx, p, spec, { start: entry.active, autostart: entry.autostart });
  }

  // This host's own update (the gateway's, or a member's part): entries, guard, definition, each with its undo.
  // Its flood entries, guard and definition are independent of each other: run at the same time (each registers
  // its undo once it succeeded; a failure fails the step once all settled).
  const own = planMembersUpdate(spec, p.members, entry.active);
  await report.step("updating members", () =>
    runPhase(hostPortOf(ctx), revert, { step: "updating members", hostSteps: own.hostSteps, concurrent: true }),
  );
  for (const w of waits) await w.wait();

  const rec = await publishRecord(ctx, { ...entry, def: { ...entry.def, spec: own.spec } }, entry.active);
  // The coordinator publishes the spec the door checks the next request against (a part publishes nothing).
  if (!ctx.parentJob) await putNetworkSpec(ctx.redis, ctx.keys, own.spec);
  return rec;
}

/**
 * The other hosts' parts: the removed members' first (waited for: a member with VMs attached refuses before
 * anything else is changed), then the remaining members' updates and the added members' parts at the same time
 * (returned to be waited for after this host's own update).
 */
async function startParts(
  ctx: JobContext,
  p: Payload,
  spec: OverlayNetSpec,
  opts: { start: boolean; autostart: boolean },
): Promise<MemberParts[]> {
  const before = spec.members;
  const { added, removed, staying } = membersDiff(before, p.members);
  if (removed.length > 0) {
    // Undone by making the member's part again as it was (the former member list).
    const parts = await startMembershipParts(
      ctx,
      "remove",
      removed.map((m) => m.id),
      p.name,
      (h) => memberCreatePayload(spec, before, h, opts),
    );
    await parts.wait().catch((err: unknown) => {
      throw removalRefused(p.name, err);
    });
  }
  // The remaining members' updates and the added members' parts queued at once, the added ones' (the longest: a
  // whole create) not after the others' any more; their undos registered in the order they had (the updates',
  // then the added members'), for whichever was queued, before a failure to queue is thrown.
  const others = staying.filter((m) => m.id !== ctx.hostId).map((m) => m.id);
  const back: Payload = { name: p.name, add: [...p.remove], remove: [...p.add], members: before.map((m) => ({ ...m })) };
  const settled = await Promise.allSettled([
    others.length > 0
      ? startMemberParts(
          ctx,
          "configure-network-hosts",
          others,
          () => p,
          () => back,
          undefined,
          { deferUndo: true },
        )
      : null,
    added.length > 0
      ? startMembershipParts(
          ctx,
          "add",
          added.map((m) => m.id),
          p.name,
          (h) => memberCreatePayload(spec, p.members, h, opts),
          { deferUndo: true },
        )
      : null,
  ]);
  const out: MemberParts[] = [];
  for (const r of settled) {
    if (r.status === "fulfilled" && r.value) {
      r.value.registerUndo();
      out.push(r.value);
    }
  }
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return out;
}

/** A removed member's part refused because something is attached there: said as the removal it is, naming what. */
function removalRefused(name: string, err: unknown): unknown {
  if (!(err instanceof AppError) || err.code !== "NETWORK_IN_USE") return err;
  const host = String(err.details.host ?? "");
  const attached = Array.isArray(err.details.attached) ? (err.details.attached as { kind?: string; name?: string }[]) : [];
  const what = attached.map((a) => (a.kind === "domain" ? `VM '${a.name}'` : `device ${a.name}`)).join(", ") || "something";
  return new AppError("NETWORK_IN_USE", `cannot remove host '${host}' from overlay '${name}': ${what} attached there`, err.details);
}
