/**
 * The counts of issue 22, as pure functions of source texts (no file system, no process): scripts/shape-counts.ts
 * reads the repository and prints them. Each finding names its file and line so `--verbose` can list them.
 *
 * What is counted where is written down here, in one place:
 * - product code: the shipped packages' sources (PRODUCT_ROOTS), without tests, fixtures and test-only entries;
 * - a type switch: a network type's name as a string literal, an equality against one, a `case` on one, a `switch`
 *   on a type, a map keyed by type (two type names as keys, or Record<NetworkType, ...>), a feature probe standing in
 *   for a type (`spec.pf !== undefined`, `"l2" in x`, `"cidr" in body`, `isRouted(spec)`); outside the drivers and
 *   the contract's per-type schemas. Not counted: an equality of two values neither of which is a type name (a list
 *   filtered by the type a caller asked for, `n.type !== q.type`): it picks no behaviour by type, it passes a value
 *   through; a switch always names the type it picks. Nor a line marked `not-a-network-type: <what it is>` (on it,
 *   or in the `//` comment right above): a literal that is no network type (nft's "bridge" family, a link kind).
 *   packages/core/src/drivers/no-type-switches.test.ts runs these same functions, so the test and the count agree;
 * - a cast: `as unknown as`, `as any`, `as never`, and `@ts-expect-error` comments;
 * - an action's lists: the top-level statements (declarations, functions) of product code that name the action
 *   (one statement counts once however often it names it), and the files they are in;
 * - a system test importing app internals: an import in a file under test/ (tests and test/support) that
 *   reaches into a package's sources instead of one of its package.json "exports".
 */
import ts from "typescript";

/** The network types. */
export const TYPE_NAMES: readonly string[] = ["nat", "isolated", "bridge", "sriov"];

/** Fields present for some types only: comparing them with undefined/null (or `in`) stands in for a type check. */
export const PROBE_FIELDS: readonly string[] = ["pf", "l2"];

/**
 * Fields whose presence (`"cidr" in body`) tells the routed types' bodies and specs from the others. Compared
 * with undefined they are an optional field's own check (`body.interface !== undefined`), so only `in` counts.
 */
export const IN_PROBE_FIELDS: readonly string[] = [...PROBE_FIELDS, "dhcp", "cidr", "interface"];

/** Functions whose call asks "is this spec of such a type" (the routed types' guard). */
const PROBE_CALLS: readonly string[] = ["isRouted"];

/** The marker of a line whose type-name-looking literal is something else (see the header). */
export const NOT_A_TYPE_MARK = "not-a-network-type:";

/** The shipped code: the API, the worker, core and the CLI (devstack and sandbox are test tooling). */
export const PRODUCT_ROOTS: readonly string[] = ["apps/api/src/", "apps/worker/src/", "packages/core/src/", "packages/cli/src/"];

/** Where type names belong: the drivers (with the type registry), and the contract's per-type schema files. */
const TYPE_HOMES: readonly RegExp[] = [
  /^apps\/worker\/src\/drivers\//,
  /^packages\/core\/src\/(?:.+\/)?drivers\//,
  new RegExp(`^packages/core/src/(?:.+/)?schemas/(?:types/|network-types/|(?:${TYPE_NAMES.join("|")})(?:[-.][^/]*)?\\.ts$)`),
];

/** The action names of the HTTP contract today, used when no ACTIONS object is found in the sources. */
export const KNOWN_ACTIONS: readonly string[] = [
  "create-network",
  "delete-network",
  "start-network",
  "stop-network",
  "list-networks",
  "describe-network",
  "list-jobs",
  "list-hosts",
  "release-network-claim",
  "configure-network-dhcp",
  "assign-static-ip",
  "unassign-static-ip",
  "list-network-ips",
  "configure-network-firewall",
  "configure-network-port-forward",
];

export interface SourceFile {
  /** Repository-relative path, with forward slashes. */
  path: string;
  text: string;
}

export interface Finding {
  path: string;
  line: number;
  kind: string;
  text: string;
}

/** Tests, fixtures and test-only entries: not product code. */
export function isTestFile(path: string): boolean {
  return (
    /\.test\.ts$/.test(path) ||
    /(?:^|\/)__(?:fixtures|golden|tests)__\//.test(path) ||
    /(?:^|\/)testing\.ts$/.test(path) ||
    /(?:^|\/)test-support\//.test(path)
  );
}

export function isProductFile(path: string): boolean {
  return path.endsWith(".ts") && !path.endsWith(".d.ts") && PRODUCT_ROOTS.some((r) => path.startsWith(r)) && !isTestFile(path);
}

export function isTypeHome(path: string): boolean {
  return TYPE_HOMES.some((re) => re.test(path));
}

function parse(file: SourceFile): ts.SourceFile {
  return ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function finding(sf: ts.SourceFile, node: ts.Node, kind: string): Finding {
  const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  const text = node.getText(sf).replace(/\s+/g, " ");
  return { path: sf.fileName, line: line + 1, kind, text: text.length > 80 ? `${text.slice(0, 77)}...` : text };
}

function walk(node: ts.Node, visit: (n: ts.Node) => boolean | undefined): void {
  // visit returns true when it has counted the node as a whole: its children are not looked at again.
  if (visit(node)) return;
  ts.forEachChild(node, (c) => walk(c, visit));
}

const isStringy = (n: ts.Node): n is ts.StringLiteral | ts.NoSubstitutionTemplateLiteral =>
  ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n);
const isTypeName = (n: ts.Node): boolean => isStringy(n) && TYPE_NAMES.includes(n.text);
const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
]);

/** `type`, `x.type`, `networkType`, `typeOf(...)`: an expression that reads a network's type. */
function readsType(n: ts.Expression): boolean {
  if (ts.isParenthesizedExpression(n)) return readsType(n.expression);
  if (ts.isIdentifier(n)) return /^(?:type|networkType|netType)$/.test(n.text);
  if (ts.isPropertyAccessExpression(n)) return n.name.text === "type";
  if (ts.isCallExpression(n)) return ts.isIdentifier(n.expression) && n.expression.text === "typeOf";
  return false;
}

/** Whether line `line` (1-based) is marked as naming no network type: on the line, or in the `//` comment right above. */
function marked(lines: readonly string[], line: number): boolean {
  if ((lines[line - 1] ?? "").includes(NOT_A_TYPE_MARK)) return true;
  for (let i = line - 2; i >= 0 && (lines[i] ?? "").trim().startsWith("//"); i--) if (lines[i]?.includes(NOT_A_TYPE_MARK)) return true;
  return false;
}

const isNullish = (n: ts.Expression): boolean => n.kind === ts.SyntaxKind.NullKeyword || (ts.isIdentifier(n) && n.text === "undefined");
const probes = (n: ts.Expression): boolean =>
  (ts.isPropertyAccessExpression(n) && PROBE_FIELDS.includes(n.name.text)) ||
  (ts.isElementAccessExpression(n) && isStringy(n.argumentExpression) && PROBE_FIELDS.includes(n.argumentExpression.text));

const propertyKey = (n: ts.PropertyName | undefined): string | null =>
  n && (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) ? n.text : null;

/** Type switches in one file (whatever its path: the caller picks the files). */
export function typeSwitches(file: SourceFile): Finding[] {
  const sf = parse(file);
  const out: Finding[] = [];
  const skip = new Set<ts.Node>();
  walk(sf, (n) => {
    if (skip.has(n)) return true;
    if (ts.isCaseClause(n) && isTypeName(n.expression)) {
      out.push(finding(sf, n.expression, "case"));
      return true;
    }
    if (ts.isBinaryExpression(n) && EQUALITY.has(n.operatorToken.kind)) {
      const { left, right } = n;
      if (isTypeName(left) || isTypeName(right)) {
        out.push(finding(sf, n, "compare"));
        return true;
      }
      // Two values (`n.type !== q.type`, a list filtered by the type asked for) are not counted: see the header.
      if ((probes(left) && isNullish(right)) || (probes(right) && isNullish(left))) {
        out.push(finding(sf, n, "probe"));
        return true;
      }
    }
    // Pick<X, "bridge"> / Omit<X, "bridge">: the keys name fields of X (a `bridge` device name), not a type.
    if (ts.isTypeReferenceNode(n) && ts.isIdentifier(n.typeName) && /^(?:Pick|Omit)$/.test(n.typeName.text) && n.typeArguments?.[1]) {
      skip.add(n.typeArguments[1]);
      return false;
    }
    if (ts.isSwitchStatement(n) && readsType(n.expression)) {
      out.push(finding(sf, n.expression, "switch"));
      return false;
    }
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && PROBE_CALLS.includes(n.expression.text)) {
      out.push(finding(sf, n, "probe"));
      return true;
    }
    if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind === ts.SyntaxKind.InKeyword &&
      isStringy(n.left) &&
      IN_PROBE_FIELDS.includes(n.left.text)
    ) {
      out.push(finding(sf, n, "probe"));
      return true;
    }
    if (ts.isObjectLiteralExpression(n) || ts.isTypeLiteralNode(n) || ts.isInterfaceDeclaration(n)) {
      const members: readonly (ts.ObjectLiteralElementLike | ts.TypeElement)[] = ts.isObjectLiteralExpression(n) ? n.properties : n.members;
      // Two type names as keys at least: one `bridge` key is a bridge device's name, not a map by type.
      const keyed = members.filter((m) => m.name !== undefined && TYPE_NAMES.includes(propertyKey(m.name) ?? "")).length >= 2;
      if (keyed) {
        out.push(finding(sf, n, "map"));
        // The keys are the map; what the entries hold is still looked at.
        for (const m of members) if (m.name) skip.add(m.name);
      }
    }
    if (ts.isTypeReferenceNode(n) && ts.isIdentifier(n.typeName) && n.typeName.text === "Record") {
      const key = n.typeArguments?.[0];
      if (key && /^(?:NetworkType|NetType)$/.test(key.getText(sf))) {
        out.push(finding(sf, n, "map"));
        return true;
      }
    }
    if (ts.isMappedTypeNode(n) && n.typeParameter.constraint && /^(?:NetworkType|NetType)$/.test(n.typeParameter.constraint.getText(sf))) {
      out.push(finding(sf, n, "map"));
      return true;
    }
    if (isTypeName(n)) {
      out.push(finding(sf, n, "literal"));
      return true;
    }
    return false;
  });
  const lines = file.text.split("\n");
  return out.filter((f) => !marked(lines, f.line));
}

/** `as unknown as`, `as any`, `as never`, `@ts-expect-error`. */
export function casts(file: SourceFile): Finding[] {
  const sf = parse(file);
  const out: Finding[] = [];
  walk(sf, (n) => {
    if (ts.isAsExpression(n)) {
      // Counted on the outer node (`x as unknown` alone is no cast to count).
      if (ts.isAsExpression(n.expression) && n.expression.type.kind === ts.SyntaxKind.UnknownKeyword)
        out.push(finding(sf, n, "as unknown as"));
      else if (n.type.kind === ts.SyntaxKind.AnyKeyword) out.push(finding(sf, n, "as any"));
      else if (n.type.kind === ts.SyntaxKind.NeverKeyword) out.push(finding(sf, n, "as never"));
    }
    return false;
  });
  const lines = file.text.split("\n");
  lines.forEach((l, i) => {
    if (/(?:\/\/|\/\*|^\s*\*)\s*@ts-expect-error/.test(l))
      out.push({ path: file.path, line: i + 1, kind: "@ts-expect-error", text: l.trim() });
  });
  return out;
}

/** Action names: the keys of an `ACTIONS` object literal if the sources have one, else the known list. */
export function actionNames(files: readonly SourceFile[]): string[] {
  for (const file of files) {
    if (!/\bACTIONS\s*[:=]/.test(file.text)) continue;
    const sf = parse(file);
    let names: string[] | null = null;
    walk(sf, (n) => {
      if (names || !ts.isVariableDeclaration(n) || !ts.isIdentifier(n.name) || n.name.text !== "ACTIONS" || !n.initializer) return false;
      let init: ts.Expression = n.initializer;
      while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init) || ts.isParenthesizedExpression(init)) init = init.expression;
      if (ts.isObjectLiteralExpression(init)) {
        const keys = init.properties.map((p) => propertyKey(p.name)).filter((k): k is string => k !== null);
        if (keys.length > 0) names = keys;
      }
      return true;
    });
    if (names) return names;
  }
  return [...KNOWN_ACTIONS];
}

export interface ActionSpread {
  action: string;
  /** Top-level statements naming the action. */
  lists: Finding[];
  files: string[];
}

/** Where each action name is written in the given files (one finding per top-level statement naming it). */
export function actionSpread(files: readonly SourceFile[], actions: readonly string[]): ActionSpread[] {
  const byAction = new Map<string, ActionSpread>(actions.map((a) => [a, { action: a, lists: [], files: [] }]));
  for (const file of files) {
    if (!actions.some((a) => file.text.includes(a))) continue;
    const sf = parse(file);
    for (const stmt of sf.statements) {
      const named = new Set<string>();
      walk(stmt, (n) => {
        if (isStringy(n) && byAction.has(n.text)) named.add(n.text);
        return false;
      });
      for (const a of named) {
        const s = byAction.get(a) as ActionSpread;
        s.lists.push(finding(sf, stmt, "list"));
        if (!s.files.includes(file.path)) s.files.push(file.path);
      }
    }
  }
  return [...byAction.values()];
}

/** Import specifiers of a file: static, type-only, re-exports, dynamic import() and vi.mock-style calls. */
export function importSpecifiers(file: SourceFile): { spec: string; line: number }[] {
  const sf = parse(file);
  const out: { spec: string; line: number }[] = [];
  const add = (lit: ts.Node) => {
    if (isStringy(lit)) out.push({ spec: lit.text, line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1 });
  };
  walk(sf, (n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) add(n.moduleSpecifier);
    else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0]) add(n.arguments[0]);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n.argument.literal);
    return false;
  });
  return out;
}

/** Join a relative specifier to the directory of `from` (both repository-relative). */
export function resolveRelative(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== "." && seg !== "") parts.push(seg);
  }
  return parts.join("/");
}

/**
 * Imports of one system test file (test/** ) that reach app or package internals: a relative path out of
 * test/ into apps/ or packages/, or an @netforge/<pkg>/<sub> subpath that package does not export.
 * `exportsOf` gives a workspace package's exported subpaths (".", "./openapi"...), or null for an unknown package.
 */
export function internalImports(file: SourceFile, exportsOf: (pkg: string) => readonly string[] | null): Finding[] {
  const out: Finding[] = [];
  for (const { spec, line } of importSpecifiers(file)) {
    let internal = false;
    if (spec.startsWith(".")) {
      const target = resolveRelative(file.path, spec);
      internal = target.startsWith("apps/") || target.startsWith("packages/");
    } else {
      const m = /^@netforge\/([^/]+)(\/.*)?$/.exec(spec);
      if (m) {
        const exported = exportsOf(m[1] as string);
        const sub = m[2] ? `.${m[2]}` : ".";
        internal = exported !== null && !exported.includes(sub);
      }
    }
    if (internal) out.push({ path: file.path, line, kind: "internal import", text: spec });
  }
  return out;
}

/** The parts of an esbuild metafile the bundle check reads. */
export interface BundleMeta {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports?: { path: string; kind?: string; external?: boolean }[] }>;
}

const REDIS_PACKAGES = ["ioredis", "bullmq"];
const isRedisModule = (p: string): boolean =>
  REDIS_PACKAGES.some((pkg) => p === pkg || p.startsWith(`${pkg}/`) || p.includes(`node_modules/${pkg}/`));

/** The Redis/BullMQ code a bundle holds: modules bundled in from those packages, and imports of them left external. */
export function redisInBundle(meta: BundleMeta): string[] {
  const found = new Set<string>();
  for (const input of Object.keys(meta.inputs)) if (isRedisModule(input)) found.add(input);
  for (const out of Object.values(meta.outputs)) for (const imp of out.imports ?? []) if (isRedisModule(imp.path)) found.add(imp.path);
  return [...found].sort();
}

export interface Counts {
  typeSwitches: Finding[];
  casts: Finding[];
  actions: ActionSpread[];
  internalImports: Finding[];
}

/** Every count but the bundle's, from the repository's files. */
export function countAll(files: readonly SourceFile[], exportsOf: (pkg: string) => readonly string[] | null): Counts {
  const product = files.filter((f) => isProductFile(f.path));
  const systemTests = files.filter((f) => f.path.startsWith("test/") && f.path.endsWith(".ts"));
  return {
    typeSwitches: product.filter((f) => !isTypeHome(f.path)).flatMap(typeSwitches),
    casts: product.flatMap(casts),
    actions: actionSpread(product, actionNames(product)),
    internalImports: systemTests.flatMap((f) => internalImports(f, exportsOf)),
  };
}
