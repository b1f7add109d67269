import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The parts of a V8 .cpuprofile this summary reads. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A window of CLOCK_MONOTONIC time in microseconds (process.hrtime.bigint() / 1000n). */
export interface TimeWindow {
  startUs: number;
  endUs: number;
}

export interface ProfileRow {
  functionName: string;
  /** Repo-relative file (or node: / (native)), with the first line seen. */
  location: string;
  selfMs: number;
  selfPct: number;
}

export interface InclusiveRow {
  functionName: string;
  location: string;
  totalMs: number;
  totalPct: number;
}

export interface AreaRow {
  area: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  /** Whether only samples inside the load window were counted (else the whole process life). */
  windowed: boolean;
  totalMs: number;
  /** Time not spent idle (idle = waiting for I/O, i.e. spare capacity). */
  busyMs: number;
  topSelf: ProfileRow[];
  /** Inclusive time of Gatehouse's own functions (packages/ sources): the request path. */
  topGatehouse: InclusiveRow[];
  areas: AreaRow[];
}

function relativeLocation(url: string, root: string): string {
  if (!url) return '(native)';
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      path = url;
    }
  }
  return path.startsWith(root) ? path.slice(root.length) : path;
}

/** `file:line`, leaving out line numbers V8 does not know (0 for code tsx compiled on the fly). */
function withLine(location: string, lineNumber: number): string {
  return location === '(native)' || lineNumber <= 0 ? location : `${location}:${lineNumber + 1}`;
}

/** Which part of the stack a file belongs to, for the by-area breakdown. */
function areaOf(functionName: string, location: string): string {
  if (location === '(native)') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return 'native';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(location);
  if (pkg) return `npm: ${pkg[1]}`;
  const own = /^packages\/([^/]+)\/src\//.exec(location);
  if (own) return `gatehouse: packages/${own[1]}/src`;
  if (location.startsWith('node:')) return 'node core (JS)';
  return location;
}

/**
 * Points every frame in a bundle (the benchmark runs bundles: bench/lib/compiled.ts) at its
 * source file and line, through the bundle's linked source map; frames elsewhere stay as they are.
 */
function mapToSources(profile: CpuProfile): void {
  const maps = new Map<string, { map: SourceMap; dir: string } | undefined>();
  const mapOf = (url: string) => {
    if (!maps.has(url)) {
      const file = url.startsWith('file://') ? fileURLToPath(url) : '';
      const mapFile = `${file}.map`;
      maps.set(
        url,
        file && existsSync(mapFile)
          ? { map: new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))), dir: dirname(mapFile) }
          : undefined,
      );
    }
    return maps.get(url);
  };
  for (const { callFrame } of profile.nodes) {
    const found = callFrame.url ? mapOf(callFrame.url) : undefined;
    if (!found || callFrame.lineNumber < 0) continue;
    const entry = found.map.findEntry(callFrame.lineNumber, callFrame.columnNumber) as {
      originalSource?: string;
      originalLine?: number;
    };
    if (entry.originalSource === undefined) continue;
    const source = entry.originalSource.startsWith('file://')
      ? entry.originalSource
      : pathToFileURL(resolve(found.dir, entry.originalSource)).href;
    callFrame.url = source;
    callFrame.lineNumber = entry.originalLine ?? 0;
  }
}

/**
 * Hit counts per node for the samples taken inside `window` (V8 stamps samples with the same
 * monotonic clock as process.hrtime), or undefined when the window catches no sample.
 */
function hitsInWindow(profile: CpuProfile, window: TimeWindow | undefined): Map<number, number> | undefined {
  if (!window || profile.timeDeltas.length !== profile.samples.length) return undefined;
  const hits = new Map<number, number>();
  let t = profile.startTime;
  let any = false;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]!;
    if (t >= window.startUs && t <= window.endUs) {
      hits.set(id, (hits.get(id) ?? 0) + 1);
      any = true;
    }
  });
  return any ? hits : undefined;
}

/**
 * Summarises a .cpuprofile: self time per function (hitCount × sampling interval, grouped by
 * function name and file), inclusive time of Gatehouse functions and self time by area. With a
 * `window`, only samples taken under load count (start-up and TS compilation are left out).
 */
export function summariseProfile(file: string, root: string, window?: TimeWindow, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  mapToSources(profile);
  const sampleCount = profile.samples.length || 1;
  const intervalMs = (profile.endTime - profile.startTime) / 1000 / sampleCount;
  const windowHits = hitsInWindow(profile, window);
  for (const node of profile.nodes) {
    if (windowHits) node.hitCount = windowHits.get(node.id) ?? 0;
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const keyOf = (node: CpuProfile['nodes'][number]) =>
    `${node.callFrame.functionName || '(anonymous)'}\u0000${node.callFrame.url}`;

  const self = new Map<string, { functionName: string; location: string; ms: number }>();
  const areas = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (const node of profile.nodes) {
    const ms = (node.hitCount ?? 0) * intervalMs;
    if (ms === 0) continue;
    const functionName = node.callFrame.functionName || '(anonymous)';
    const location = relativeLocation(node.callFrame.url, root);
    const key = keyOf(node);
    const row = self.get(key) ?? {
      functionName,
      location: withLine(location, node.callFrame.lineNumber),
      ms: 0,
    };
    row.ms += ms;
    self.set(key, row);
    const area = areaOf(functionName, location);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    totalMs += ms;
    if (functionName === '(idle)') idleMs += ms;
  }

  // Inclusive time for Gatehouse functions: walk the tree, counting each sample once per function
  // even when it recurses.
  const inclusive = new Map<string, { functionName: string; location: string; ms: number }>();
  const root0 = profile.nodes[0];
  const stack: { id: number; onPath: Set<string> }[] = root0 ? [{ id: root0.id, onPath: new Set() }] : [];
  const subtreeSelf = new Map<number, number>();
  // Post-order sums of self time per subtree, computed iteratively.
  const order: number[] = [];
  const visit: number[] = root0 ? [root0.id] : [];
  while (visit.length > 0) {
    const id = visit.pop()!;
    order.push(id);
    for (const child of byId.get(id)?.children ?? []) visit.push(child);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const node = byId.get(order[i]!)!;
    let sum = (node.hitCount ?? 0) * intervalMs;
    for (const child of node.children ?? []) sum += subtreeSelf.get(child) ?? 0;
    subtreeSelf.set(node.id, sum);
  }
  while (stack.length > 0) {
    const { id, onPath } = stack.pop()!;
    const node = byId.get(id)!;
    const key = keyOf(node);
    const location = relativeLocation(node.callFrame.url, root);
    let path = onPath;
    if (/^packages\/[^/]+\/src\//.test(location) && !onPath.has(key)) {
      const row = inclusive.get(key) ?? {
        functionName: node.callFrame.functionName || '(anonymous)',
        location: withLine(location, node.callFrame.lineNumber),
        ms: 0,
      };
      row.ms += subtreeSelf.get(id) ?? 0;
      inclusive.set(key, row);
      path = new Set(onPath).add(key);
    }
    for (const child of node.children ?? []) stack.push({ id: child, onPath: path });
  }

  const busyMs = totalMs - idleMs;
  const pct = (ms: number) => (busyMs > 0 ? (100 * ms) / busyMs : 0);
  return {
    file,
    windowed: windowHits !== undefined,
    totalMs,
    busyMs,
    topSelf: [...self.values()]
      .filter((r) => r.functionName !== '(idle)')
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((r) => ({ functionName: r.functionName, location: r.location, selfMs: r.ms, selfPct: pct(r.ms) })),
    topGatehouse: [...inclusive.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((r) => ({
        functionName: r.functionName,
        location: r.location,
        totalMs: r.ms,
        totalPct: pct(r.ms),
      })),
    areas: [...areas.entries()]
      .filter(([area]) => area !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([area, ms]) => ({ area, selfMs: ms, selfPct: pct(ms) })),
  };
}

/**
 * Summarises the main thread's profile of a process run under `node --cpu-prof --cpu-prof-dir=dir`
 * (one file per thread, CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main
 * thread, the server; a process under tsx also has its module-loader thread's); `file` relative to `root`.
 */
export function summariseMainThread(dir: string, root: string, window?: TimeWindow): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const file = files.find((f) => f.split('.')[4] === '0') ?? files[0];
  if (!file) throw new Error(`no .cpuprofile written to ${dir}`);
  const summary = summariseProfile(join(dir, file), root, window);
  return { ...summary, file: join(dir, file).slice(root.length) };
}
