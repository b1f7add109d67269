import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../../src/observability/hot-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED: [string, number][] = [
  ['a', 0.0005],
  ['a', 0.001], // on a bound: counted in it (le is inclusive)
  ['a', 0.05],
  ['b', 3],
  ['a', 0.5],
  ['b', 0.002],
  ['a', 7],
];

/** The same series in prom-client's own metrics and in the hot ones, in two registries. */
function pair() {
  const own = new Registry();
  const hot = new Registry();
  const config = { name: 'x_seconds', help: 'X time.', labelNames: ['route'] as const, buckets: BUCKETS };
  const counted = { name: 'x_total', help: 'X count.', labelNames: ['route', 'status'] as const };
  return {
    own,
    hot,
    ownHistogram: new Histogram({ ...config, labelNames: [...config.labelNames], registers: [own] }),
    hotHistogram: new HotHistogram({ ...config, labelNames: [...config.labelNames], registers: [hot] }),
    ownCounter: new Counter({ ...counted, labelNames: [...counted.labelNames], registers: [own] }),
    hotCounter: new HotCounter({ ...counted, labelNames: [...counted.labelNames], registers: [hot] }),
  };
}

describe('hot metrics', () => {
  it('expose exactly what prom-client exposes for the same observations, as text and as JSON', async () => {
    const m = pair();
    for (const [route, value] of OBSERVED) {
      m.ownHistogram.labels(route).observe(value);
      m.hotHistogram.child(route).observe(value);
      m.ownCounter.labels(route, value > 1 ? '500' : '200').inc();
      m.hotCounter.child(route, value > 1 ? '500' : '200').inc();
    }
    const text = await m.hot.metrics();
    assert.equal(text, await m.own.metrics());
    assert.match(text, /x_seconds_bucket\{le="0\.001",route="a"\} 2/);
    assert.match(text, /x_seconds_bucket\{le="\+Inf",route="a"\} 5/);
    assert.match(text, /x_total\{route="b",status="500"\} 1/);
    // As a JSON reader sees them (prom-client leaves some fields undefined).
    const json = async (registry: Registry) => JSON.parse(JSON.stringify(await registry.getMetricsAsJSON()));
    assert.deepEqual(await json(m.hot), await json(m.own));
  });

  it('keep counting across scrapes, and reset to zero', async () => {
    const m = pair();
    const child = m.hotCounter.child('a', '200');
    child.inc();
    await m.hot.metrics();
    child.inc();
    child.inc();
    assert.match(await m.hot.metrics(), /x_total\{route="a",status="200"\} 3/);
    m.hotHistogram.child('a').observe(0.5);
    m.hot.resetMetrics();
    const text = await m.hot.metrics();
    assert.doesNotMatch(text, /x_total\{/);
    assert.doesNotMatch(text, /x_seconds_count\{/, 'like prom-client, a reset label set is not exposed');
    child.inc();
    assert.match(await m.hot.metrics(), /x_total\{route="a",status="200"\} 1/);
  });

  it('a child is made once per label set, exposed from its first observation, and a value that is not finite is not observed', async () => {
    const m = pair();
    m.hotHistogram.child('unobserved');
    m.ownHistogram.labels('unobserved');
    assert.equal(await m.hot.metrics(), await m.own.metrics());
    assert.equal(m.hotCounter.child('a', '200'), m.hotCounter.child('a', '200'));
    assert.notEqual(m.hotCounter.child('a', '200'), m.hotCounter.child('a', '404'));
    const child = m.hotHistogram.child('a');
    child.observe(Number.NaN);
    child.observe(Number.POSITIVE_INFINITY);
    child.observe(0.01);
    assert.match(await m.hot.metrics(), /x_seconds_count\{route="a"\} 1\n/);
  });

  it("refuse what they would not expose: the wrong number of label values, prom-client's own observe", () => {
    const m = pair();
    assert.throws(() => m.hotCounter.child('only-route'), /expected 2 label values/);
    assert.throws(() => m.hotHistogram.child('a', 'extra'), /expected 1 label values/);
    assert.throws(() => m.hotHistogram.observe({ route: 'a' }, 0.1), /through child/);
    assert.throws(() => m.hotHistogram.labels('a'), /through child/);
    assert.throws(() => m.hotHistogram.startTimer(), /through child/);
    assert.throws(() => m.hotHistogram.zero({ route: 'a' }), /through child/);
  });
});
