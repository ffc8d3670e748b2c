export * from "./model";
export * from "./type-of";
export * from "./registry";
export { isRouted, type RoutedModel, type RoutedType, specFromCreate } from "./routed";
export { natModel } from "./nat";
export { isolatedModel } from "./isolated";
export { bridgeModel } from "./bridge";
export { sriovModel } from "./sriov";
export {
  type OverlayMember,
  type OverlayMemberUnderlay,
  type OverlayNetSpec,
  overlayMtuIssues,
  overlayBridgeName,
  overlayGuardCommands,
  overlayFloodLimit,
  overlayGuardTable,
  overlayHostSteps,
  overlayModel,
  overlaySpecFor,
} from "./overlay";
export {
  floodTargets,
  guardInPlace,
  overlayBridgeCommands,
  memberBridgeSetup,
  guardScript,
  type OverlayObserved,
  type OverlayRepair,
  overlayDrift,
} from "./overlay-drift";
export {
  bridgePortChanges,
  bridgePortEntriesFromFdb,
  type FdbRow,
  isUnicastMac,
  movedPortEntries,
  localMacsFromFdb,
  type MacConflict,
  macConflicts,
  type UnicastChange,
  type UnicastEntry,
  unicastChanges,
  unicastEntriesFromFdb,
  wantedUnicastEntries,
  withGatewayMac,
} from "./overlay-unicast";
export {
  gatewayNeighbours,
  type NeighbourEntry,
  type NeighRow,
  neighbourChanges,
  neighbourEntriesFromJson,
  wantedNeighbourEntries,
} from "./overlay-neighbours";
export {
  guardReplaceArgv,
  type MembersRequest,
  memberCreatePayload,
  memberSpec,
  membersDiff,
  nextOverlayMembers,
  planMembersChange,
  planMembersUpdate,
  type MemberPartAction,
  withMemberParts,
} from "./overlay-members";
export {
  checkGatewayMove,
  GATEWAY_DOWN_STEP,
  GATEWAY_UP_STEP,
  garpArgv,
  gatewayMacSteps,
  gatewaySpecFromXml,
  planGatewayMove,
  planRoleChange,
  type RoleChange,
  specAfterMove,
} from "./overlay-gateway";
export * from "./door";
export { bridgeChoiceFromInventory, bridgeUsers } from "./bridge";
export { type OverlayBootFiles, renderOverlayBoot } from "./overlay-boot";
