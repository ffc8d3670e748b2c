/** assign-static-ip at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { changeOf } from "@netforge/core/model";
import { planOfChange } from "../dry-run";
import { prepareConfigure } from "../job-preparers";
import { apiHalf } from "./half";

export const assignStaticIp = apiHalf("assign-static-ip", {
  // The parsed body is the payload (the action route took dryRun off).
  prepare: prepareConfigure(
    "assign-static-ip",
    (body) => body,
    (payload) => changeOf("assign-static-ip", payload),
  ),
  plan: planOfChange,
});
