/**
 * deploy/ against the code it deploys: every manifest parses; the config in the plain ConfigMap,
 * with the environment the Deployment gives it, passes the real loader; probes, the
 * ServiceMonitor and Istio's JWKS point at paths the app serves; every metric and label the
 * Grafana dashboard and the alert rules use is one a live registry exposes; and (Helm not being
 * available) the chart's templates only reference values that exist and balance their blocks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '@gatehouse/core';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { parse, parseAllDocuments } from 'yaml';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config/load-config.js';
import { buildGateway } from '../src/gateway/build-gateway.js';
import type { GatewayServer } from '../src/gateway/gateway-server.js';
import { readRoutesFile } from '../src/gateway/routing/route-source.js';
import { loadKek } from '../src/keys/key-vault.js';
import { createRuntime, type Runtime, VERSION } from '../src/runtime.js';
import { SERVER_BUNDLE } from '../../../scripts/bundle.js';

const root = new URL('../../../', import.meta.url).pathname;
const deploy = join(root, 'deploy');
const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-deploy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML, read field by field
type Obj = Record<string, any>;

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path, ext) : ext.test(name) ? [path] : [];
    })
    .sort();
}

/** Every document of a YAML file, failing on any parse error or warning. */
function documents(path: string): Obj[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { uniqueKeys: true }).map((doc) => {
    assert.deepEqual(doc.errors, [], `${relative(root, path)}: ${doc.errors.join('; ')}`);
    assert.deepEqual(doc.warnings, [], `${relative(root, path)}: ${doc.warnings.join('; ')}`);
    return doc.toJS() as Obj;
  });
}

const manifestFiles = ['kubernetes', 'istio', 'prometheus'].flatMap((d) =>
  files(join(deploy, d), /\.ya?ml$/),
);
const plain = files(join(deploy, 'kubernetes'), /\.ya?ml$/)
  .filter((f) => !f.endsWith('kustomization.yaml'))
  .flatMap(documents);
const find = (kind: string, name: string): Obj => {
  const found = plain.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found, `deploy/kubernetes has a ${kind} ${name}`);
  return found;
};
const deployment = find('Deployment', 'gatehouse');
const pod = deployment.spec.template.spec as Obj;
const container = pod.containers[0] as Obj;
const configMap = find('ConfigMap', 'gatehouse-config');
const routesMap = find('ConfigMap', 'gatehouse-routes');
const kustomization = parse(readFileSync(join(deploy, 'kubernetes/kustomization.yaml'), 'utf8')) as Obj;
const namespace = kustomization.namespace as string;

/** Sample values for the Secret's keys, in the formats the loader expects. */
const SECRET_SAMPLES: Record<string, string> = {
  kek: randomBytes(32).toString('hex'),
  'database-url': 'postgres://gatehouse:s3cret@postgres.db.svc:5432/gatehouse?sslmode=require',
  'redis-url': 'redis://:s3cret@redis.db.svc:6379',
};

/** The container's environment, with each Secret reference replaced by a sample value. */
function podEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env as Obj[]) {
    const ref = entry.valueFrom?.secretKeyRef as Obj | undefined;
    if (ref) {
      assert.equal(ref.name, 'gatehouse-secrets', `${entry.name} comes from the documented Secret`);
      const sample = SECRET_SAMPLES[ref.key];
      assert.ok(sample, `no sample for Secret key ${ref.key}`);
      env[entry.name] = sample;
    } else {
      assert.equal(typeof entry.value, 'string', `${entry.name} has a literal value`);
      env[entry.name] = entry.value;
    }
  }
  return env;
}

/** Writes a ConfigMap key to a scratch file (what the kubelet mounts). */
function materialize(map: Obj, key: string): string {
  const text = map.data?.[key];
  assert.equal(typeof text, 'string', `${map.metadata.name} has data.${key}`);
  const path = join(mkdtempSync(join(scratch, 'cm-')), key);
  writeFileSync(path, text);
  return path;
}

/** The volume mounted at `dir`, resolved to its ConfigMap name. */
function configMapMountedAt(dir: string): string {
  const mount = (container.volumeMounts as Obj[]).find((m) => m.mountPath === dir);
  assert.ok(mount, `something is mounted at ${dir}`);
  assert.equal(mount.subPath, undefined, 'no subPath: the kubelet would never update it');
  const volume = (pod.volumes as Obj[]).find((v) => v.name === mount.name);
  return volume?.configMap?.name as string;
}

const configFile = materialize(configMap, 'gatehouse.yaml');
const routesFile = materialize(routesMap, 'routes.yaml');
const loadPlain = (env: Record<string, string> = podEnv()) =>
  loadConfig({ file: configFile, env: { ...env, GATEHOUSE_GATEWAY__ROUTES_FILE: routesFile }, cwd: scratch });

describe('manifests', () => {
  test('every YAML file under deploy/kubernetes, deploy/istio and deploy/prometheus parses', () => {
    assert.ok(manifestFiles.length >= 10, `found ${manifestFiles.length} files`);
    for (const file of manifestFiles) {
      const docs = documents(file);
      assert.ok(docs.length > 0, `${relative(root, file)} is not empty`);
      for (const doc of docs) {
        assert.equal(typeof doc.apiVersion, 'string', `${relative(root, file)}: apiVersion`);
        assert.equal(typeof doc.kind, 'string', `${relative(root, file)}: kind`);
        if (doc.kind !== 'Kustomization') assert.ok(doc.metadata?.name, `${relative(root, file)}: a name`);
      }
    }
  });

  test('the kustomization lists files that exist and names every other manifest as opt-in', () => {
    const text = readFileSync(join(deploy, 'kubernetes/kustomization.yaml'), 'utf8');
    const listed = kustomization.resources as string[];
    const optIn = [...text.matchAll(/^\s*#\s*-\s*(\S+\.yaml)/gm)].map((m) => m[1] as string);
    for (const file of [...listed, ...optIn]) {
      assert.ok(statSync(join(deploy, 'kubernetes', file)).isFile(), file);
    }
    for (const file of readdirSync(join(deploy, 'kubernetes'))) {
      if (file === 'kustomization.yaml') continue;
      assert.ok(listed.includes(file) || optIn.includes(file), `${file} is listed or named as opt-in`);
    }
    assert.ok(!listed.some((f) => /secret/i.test(f)), 'no Secret with sample values is applied');
  });

  test('the ConfigMap config, with the Deployment environment, passes the real config loader', () => {
    const env = podEnv();
    const config = loadPlain(env);
    assert.equal(config.storage.store.kind, 'postgres');
    assert.equal(config.storage.cache.kind, 'redis');
    assert.ok(['nats', 'redis'].includes(config.storage.bus.kind), 'a shared bus');
    assert.equal(
      (config.storage.store as { url: string }).url,
      SECRET_SAMPLES['database-url'],
      'the database URL comes from the Secret',
    );
    assert.equal(config.server.host, '0.0.0.0', 'listens on the pod IP');
    assert.match(config.issuer, /^https:\/\//);
    assert.ok(config.server.trusted_proxies.length > 0, 'X-Forwarded-For of the ingress is believed');
    // The KEK is read from the variable the config names, and the Deployment provides it.
    assert.equal(loadKek(config.keys.kek, join(scratch, 'no-kek-file'), env).kek.length, 32);
    // No secret is in the ConfigMap itself.
    const text = configMap.data['gatehouse.yaml'] as string;
    for (const secret of Object.values(SECRET_SAMPLES)) assert.ok(!text.includes(secret));
    assert.doesNotMatch(text, /postgres(ql)?:\/\/|rediss?:\/\/|secret_digest/);
  });

  test('the Deployment finds its files where the config says they are', () => {
    const env = podEnv();
    assert.equal(configMapMountedAt(dirname(env.GATEHOUSE_CONFIG ?? '')), 'gatehouse-config');
    assert.equal(env.GATEHOUSE_CONFIG?.endsWith('/gatehouse.yaml'), true);
    const routesPath = (parse(configMap.data['gatehouse.yaml']) as Obj).gateway.routes_file as string;
    assert.equal(configMapMountedAt(dirname(routesPath)), 'gatehouse-routes');
    assert.ok(readRoutesFile(routesFile).length > 0, 'the routes ConfigMap passes the routes schema');
    assert.ok(
      (container.volumeMounts as Obj[]).some((m) => m.mountPath === '/tmp'),
      'a writable /tmp for temporary files under a read-only root filesystem',
    );
  });

  test('ports, Services and shutdown timing agree with the config', () => {
    const config = loadPlain();
    const ports = Object.fromEntries((container.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    assert.equal(ports.http, config.server.port);
    assert.equal(ports.gateway, config.gateway.port);
    for (const service of plain.filter((o) => o.kind === 'Service')) {
      for (const port of service.spec.ports as Obj[]) {
        assert.ok(port.targetPort in ports, `${service.metadata.name} targets a named container port`);
      }
      for (const [k, v] of Object.entries(service.spec.selector as Obj)) {
        assert.equal(
          deployment.spec.template.metadata.labels[k],
          v,
          `${service.metadata.name} selects the pods`,
        );
      }
    }
    const preStop = Number((container.lifecycle.preStop.exec.command as string[])[1]);
    assert.ok(
      pod.terminationGracePeriodSeconds >= preStop + config.server.shutdown_grace_seconds + 5,
      'SIGKILL never comes before the server has drained and closed storage',
    );
  });

  test('Kubernetes service links are off: the loader would take them for config overrides', () => {
    assert.equal(pod.enableServiceLinks, false);
    assert.throws(
      () => loadPlain({ ...podEnv(), GATEHOUSE_PORT: 'tcp://10.96.0.10:8080' }),
      (err: unknown) => err instanceof ConfigError,
    );
  });

  test('the pod runs non-root, read-only, without capabilities, under RuntimeDefault seccomp', () => {
    const sc = container.securityContext as Obj;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    const dockerfile = readFileSync(join(deploy, 'docker/Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`^USER ${pod.securityContext.runAsUser}:`, 'm'));
    // The program the image runs is the one `npm run build` writes.
    const program = `/app/${relative(root, SERVER_BUNDLE)}`;
    assert.ok(dockerfile.includes(`\nENTRYPOINT ["node", "${program}"]\n`), program);
    assert.match(dockerfile, /^RUN npm run build/m);
    assert.deepEqual(container.args, ['start']);
  });

  test('deploy/README.md creates the Secret with every key the Deployment reads', () => {
    const readme = readFileSync(join(deploy, 'README.md'), 'utf8');
    assert.match(readme, /kubectl -n gatehouse create secret generic gatehouse-secrets/);
    for (const entry of container.env as Obj[]) {
      const key = entry.valueFrom?.secretKeyRef?.key as string | undefined;
      if (key) assert.ok(readme.includes(`--from-literal=${key}=`), `README sets ${key}`);
    }
  });
});

/** Metric families a live registry exposes: name → type and label names. */
type Families = Map<string, { type: string; labels: string[] }>;

describe('against a live instance', () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let gateway: GatewayServer;
  const families: Families = new Map();

  before(async () => {
    const dir = mkdtempSync(join(scratch, 'live-'));
    writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
    const file = join(dir, 'gatehouse.yaml');
    // One route, so the gateway registers its series too (it is never called).
    writeFileSync(
      file,
      [
        `data_dir: ${dir}`,
        `keys: { kek: { source: file, path: ${join(dir, 'kek')} } }`,
        'gateway:',
        '  routes:',
        "    - { id: r, match: { path: /r }, authenticate: [anonymous], upstream: { service: r, targets: ['http://127.0.0.1:9'] } }",
      ].join('\n'),
    );
    runtime = await createRuntime(loadConfig({ file, env: {} }), {
      logger: pino({ level: 'silent' }),
      defaultMetrics: true,
    });
    app = await buildApp(runtime);
    gateway = buildGateway(runtime);
    const exposition = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const metric = runtime.metrics.registry.getSingleMetric(name as string) as unknown as {
        labelNames?: string[];
      };
      families.set(name as string, { type: type as string, labels: [...(metric?.labelNames ?? [])] });
    }
  });
  after(async () => {
    await gateway?.close();
    await app?.close();
    await runtime?.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url });

  test('every probe and the ServiceMonitor point at paths the server serves', async () => {
    const helmDeployment = readFileSync(join(deploy, 'helm/gatehouse/templates/deployment.yaml'), 'utf8');
    const paths = new Set([
      ...['startupProbe', 'livenessProbe', 'readinessProbe'].map((p) => container[p].httpGet.path as string),
      ...[...helmDeployment.matchAll(/^\s+path: (\S+)$/gm)].map((m) => m[1] as string),
    ]);
    assert.deepEqual([...paths].sort(), ['/healthz', '/readyz']);
    for (const path of paths) assert.equal((await get(path)).statusCode, 200, path);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      assert.equal(container[probe].httpGet.port, 'http', `${probe} asks the issuer port`);
    }
    const monitors = [
      find('ServiceMonitor', 'gatehouse'),
      ...parseAllDocuments(
        readFileSync(join(deploy, 'helm/gatehouse/templates/servicemonitor.yaml'), 'utf8').replace(
          /\{\{[^}]*\}\}/g,
          '',
        ),
      ).map((d) => d.toJS() as Obj),
    ];
    for (const monitor of monitors) {
      const endpoint = (monitor?.spec?.endpoints as Obj[] | undefined)?.[0];
      assert.equal(endpoint?.port, 'http');
      const res = await get(endpoint?.path as string);
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /^gatehouse_build_info\{/m);
    }
  });

  test('Istio trusts the JWKS path and issuer Gatehouse really uses', async () => {
    const istio = files(join(deploy, 'istio'), /\.yaml$/).flatMap(documents);
    const config = loadPlain();
    const discovery = (await get('/.well-known/openid-configuration')).json() as Obj;
    const jwksPath = new URL(discovery.jwks_uri as string).pathname;
    const jwks = (await get(jwksPath)).json() as Obj;
    assert.ok((jwks.keys as unknown[]).length > 0);
    const service = find('Service', 'gatehouse');
    const routes = readRoutesFile(routesFile);
    const serviceAccount = find('ServiceAccount', 'gatehouse');
    let rules = 0;
    for (const doc of istio.filter((d) => d.kind === 'RequestAuthentication')) {
      for (const rule of doc.spec.jwtRules as Obj[]) {
        rules += 1;
        assert.equal(rule.issuer, config.issuer);
        const uri = new URL(rule.jwksUri as string);
        assert.equal(uri.pathname, jwksPath);
        assert.equal(
          uri.host,
          `${service.metadata.name}.${namespace}.svc.cluster.local:${service.spec.ports[0].port}`,
        );
        for (const aud of rule.audiences as string[]) {
          assert.ok(
            routes.some((r) => r.upstream.service === aud),
            `${aud} is a route's upstream.service (the internal token's aud)`,
          );
        }
      }
    }
    assert.ok(rules > 0);
    for (const doc of istio.filter((d) => d.kind === 'AuthorizationPolicy')) {
      for (const rule of doc.spec.rules as Obj[]) {
        for (const from of rule.from as Obj[]) {
          for (const p of from.source.requestPrincipals as string[]) assert.equal(p, `${config.issuer}/*`);
          for (const p of (from.source.principals as string[] | undefined) ?? []) {
            assert.equal(p, `cluster.local/ns/${namespace}/sa/${serviceAccount.metadata.name}`);
          }
        }
      }
    }
  });

  test('the dashboard and the alert rules use only registered metrics and their labels', () => {
    const dashboard = JSON.parse(
      readFileSync(join(deploy, 'grafana/gatehouse-dashboard.json'), 'utf8'),
    ) as Obj;
    const exprs: [string, string][] = [];
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) {
        for (const [i, n] of node.entries()) walk(n, `${where}[${i}]`);
      } else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if ((k === 'expr' || k === 'definition') && typeof v === 'string') exprs.push([`${where}.${k}`, v]);
          else walk(v, `${where}.${k}`);
        }
      }
    };
    walk(dashboard, 'dashboard');
    const panels = exprs.filter(([w]) => w.includes('.panels')).length;
    assert.ok(panels >= 30, `dashboard has ${panels} queries`);
    const rules = documents(join(deploy, 'prometheus/alerts.yaml'))[0]?.spec.groups.flatMap(
      (g: Obj) => g.rules as Obj[],
    ) as Obj[];
    for (const rule of rules) exprs.push([`alert ${rule.alert}`, rule.expr as string]);
    for (const name of [
      'GatehouseIssuerHigh5xxRate',
      'GatehouseGatewayHigh5xxRate',
      'GatehouseRevocationStale',
      'GatehouseUpstreamCircuitOpen',
      'GatehouseNotReady',
    ]) {
      assert.ok(
        rules.some((r) => r.alert === name),
        name,
      );
    }
    const used = new Set<string>();
    for (const [where, expr] of exprs) {
      for (const problem of checkPromql(expr, families, used)) assert.fail(`${where}: ${problem}\n  ${expr}`);
    }
    // What the alerts are about must really be there.
    for (const name of [
      'gatehouse_revocation_staleness_seconds',
      'gatehouse_gateway_circuit_state',
      'gatehouse_http_request_duration_seconds_count',
      'gatehouse_gateway_requests_total',
    ]) {
      assert.ok(used.has(name), name);
    }
  });
});

/** Labels every scraped series carries (Prometheus Operator target labels). */
const TARGET_LABELS = new Set(['namespace', 'pod', 'instance', 'job', 'service', 'endpoint', 'container']);
/** Series from outside Gatehouse the alert rules may use, with their labels. */
const EXTERNAL: Record<string, string[]> = {
  kube_deployment_status_replicas_available: ['deployment'],
  kube_deployment_spec_replicas: ['deployment'],
};
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool']);
const KEYWORDS_OPS = new Set(['and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The problems of one PromQL expression (or Grafana label_values query) against the registry. */
function checkPromql(expr: string, families: Families, used: Set<string>): string[] {
  const problems: string[] = [];
  const seriesLabels = (name: string): string[] | undefined => {
    if (name in EXTERNAL) return EXTERNAL[name];
    const family = families.get(name);
    if (family && family.type !== 'histogram') return family.labels;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const histogram = families.get(base);
    if (base !== name && histogram?.type === 'histogram') {
      return name.endsWith('_bucket') ? [...histogram.labels, 'le'] : histogram.labels;
    }
    return undefined;
  };
  let text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '');
  const names: string[] = [];
  const labelUses: [string | undefined, string][] = [];
  text = text.replace(
    /([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g,
    (_m, name: string | undefined, inner: string) => {
      if (name) names.push(name);
      for (const [, label] of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
        labelUses.push([name, label as string]);
      }
      return ' ';
    },
  );
  const grouping: string[] = [];
  text = text.replace(
    /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_m, _k, list: string) => {
      grouping.push(
        ...list
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
      return ' ';
    },
  );
  // label_values(metric, label) in Grafana variables.
  text = text.replace(/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*(\w+)\s*\)/g, (_m, name, label) => {
    names.push(name);
    grouping.push(label);
    return ' ';
  });
  for (const [, name] of text.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    if (!KEYWORDS.has(name as string) && !KEYWORDS_OPS.has(name as string)) names.push(name as string);
  }
  if (names.length === 0) problems.push('uses no metric');
  const known = new Set<string>(TARGET_LABELS);
  for (const name of names) {
    const labels = seriesLabels(name);
    if (labels === undefined) problems.push(`${name} is not a series the server exposes`);
    else {
      used.add(name);
      for (const l of labels) known.add(l);
    }
  }
  for (const [name, label] of labelUses) {
    const labels = name ? seriesLabels(name) : undefined;
    if (labels && !labels.includes(label) && !TARGET_LABELS.has(label)) {
      problems.push(`${name} has no label ${label}`);
    }
  }
  for (const label of grouping) if (!known.has(label)) problems.push(`no series here has label ${label}`);
  return problems;
}

describe('Helm chart (static: helm is not available here)', () => {
  const chart = join(deploy, 'helm/gatehouse');
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8'), { uniqueKeys: true }) as Obj;
  const templates = files(join(chart, 'templates'), /\.(yaml|tpl|txt)$/).map((path) => ({
    path,
    text: readFileSync(path, 'utf8'),
  }));

  test('Chart.yaml is a v2 chart whose appVersion is the Gatehouse version', () => {
    const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Obj;
    assert.equal(meta.apiVersion, 'v2');
    assert.equal(meta.name, 'gatehouse');
    assert.equal(meta.appVersion, VERSION);
    assert.match(meta.version, /^\d+\.\d+\.\d+/);
  });

  test('every .Values path a template uses exists in values.yaml', () => {
    let count = 0;
    for (const { path, text } of templates) {
      for (const [, dotted] of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        count += 1;
        let node: unknown = values;
        for (const key of (dotted as string).slice(1).split('.')) {
          assert.ok(
            node !== null && typeof node === 'object' && key in (node as Obj),
            `${relative(chart, path)}: .Values${dotted} is not in values.yaml`,
          );
          node = (node as Obj)[key];
        }
      }
    }
    assert.ok(count > 50, `${count} references`);
  });

  test('template blocks balance, includes resolve, and .Values is never read under a moved dot', () => {
    const defined = new Set<string>();
    for (const { text } of templates) {
      for (const [, name] of text.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)) {
        assert.ok(!defined.has(name as string), `${name} defined once`);
        defined.add(name as string);
      }
    }
    for (const { path, text } of templates) {
      const where = relative(chart, path);
      for (const [, name] of text.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) {
        assert.ok(defined.has(name as string), `${where}: "${name}" is defined`);
      }
      assert.equal(text.split('{{').length, text.split('}}').length, `${where}: {{ and }} pair up`);
      const stack: string[] = [];
      for (const [, action] of text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)) {
        const body = action as string;
        if (body.startsWith('/*')) continue;
        const word = body.split(/\s+/)[0] ?? '';
        if (/(^|[^$\w])\.Values\b/.test(body)) {
          assert.ok(
            !stack.some((s) => s === 'with' || s === 'range'),
            `${where}: "{{ ${body} }}" reads .Values inside with/range (use $.Values)`,
          );
        }
        if (['if', 'with', 'range', 'define', 'block'].includes(word)) stack.push(word);
        else if (word === 'end') assert.ok(stack.pop(), `${where}: an end without a block`);
      }
      assert.deepEqual(stack, [], `${where}: every block is closed`);
    }
  });

  test("values.yaml's defaults, with the keys the chart sets, pass the real config loader", () => {
    const helpers = readFileSync(join(chart, 'templates/_helpers.tpl'), 'utf8');
    // The keys templates/_helpers.tpl (gatehouse.config) sets; this test renders the same.
    const assertHolds = (text: string, needles: string[]) => {
      for (const needle of needles) assert.ok(text.includes(needle), needle);
    };
    assertHolds(helpers, [
      'set $server "host" "0.0.0.0"',
      'set $server "port" (int .Values.ports.http)',
      'set $keys "kek" (dict "source" "env" "env" "GATEHOUSE_KEK")',
      'set $gateway "port" (int .Values.ports.gateway)',
      '.Values.storage.distributed | toYaml',
    ]);
    const deploymentTemplate = readFileSync(join(chart, 'templates/deployment.yaml'), 'utf8');
    assertHolds(
      deploymentTemplate,
      [
        'GATEHOUSE_CONFIG',
        'GATEHOUSE_KEK',
        'GATEHOUSE_STORAGE__STORE__URL',
        'GATEHOUSE_STORAGE__CACHE__URL',
      ].map((name) => `name: ${name}`),
    );
    assert.match(deploymentTemplate, /enableServiceLinks: false/);
    const routesPath = join(mkdtempSync(join(scratch, 'helm-')), 'routes.yaml');
    writeFileSync(routesPath, `routes: ${JSON.stringify(values.gateway.routes)}\n`);
    assert.deepEqual(readRoutesFile(routesPath), []);
    const rendered = structuredClone(values.config) as Obj;
    rendered.issuer = 'https://auth.example.com'; // required: empty by default on purpose
    rendered.server = { ...rendered.server, host: '0.0.0.0', port: values.ports.http };
    rendered.keys = { ...rendered.keys, kek: { source: 'env', env: 'GATEHOUSE_KEK' } };
    rendered.storage = values.storage.distributed;
    rendered.gateway = { ...rendered.gateway, port: values.ports.gateway, routes_file: routesPath };
    const file = join(dirname(routesPath), 'gatehouse.yaml');
    writeFileSync(file, JSON.stringify(rendered));
    const env = {
      GATEHOUSE_KEK: SECRET_SAMPLES.kek ?? '',
      GATEHOUSE_STORAGE__STORE__URL: SECRET_SAMPLES['database-url'] ?? '',
      GATEHOUSE_STORAGE__CACHE__URL: SECRET_SAMPLES['redis-url'] ?? '',
    };
    const config = loadConfig({ file, env, cwd: scratch });
    assert.equal(config.storage.store.kind, 'postgres');
    assert.equal(config.server.port, values.ports.http);
    // The embedded mode the chart renders instead (single instance, data on the volume).
    const embedded = {
      ...rendered,
      data_dir: join(dirname(routesPath), 'data'),
      storage: { store: { kind: 'embedded' }, cache: { kind: 'memory' }, bus: { kind: 'memory' } },
    };
    writeFileSync(file, JSON.stringify(embedded));
    assert.equal(
      loadConfig({ file, env: { GATEHOUSE_KEK: env.GATEHOUSE_KEK }, cwd: scratch }).storage.store.kind,
      'embedded',
    );
    assert.equal(values.storage.mode, 'distributed', 'the production setup is the default');
  });
});
