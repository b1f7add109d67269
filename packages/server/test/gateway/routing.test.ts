import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { routeSchema } from '@gatehouse/core';
import { normalizeRequestTarget, pathHasPrefix } from '../../src/gateway/routing/normalize-path.js';
import { RouteTable } from '../../src/gateway/routing/route-table.js';

describe('normalizeRequestTarget refuses what two parsers could read two ways', () => {
  const refused: [string, string][] = [
    ['/public/../admin', 'dot_segment'],
    ['/public/./admin', 'dot_segment'],
    ['/public/%2e%2e/admin', 'encoded_delimiter'],
    ['/public/%2E%2E/admin', 'encoded_delimiter'],
    ['/public%2fadmin', 'encoded_delimiter'],
    ['/public%2Fadmin', 'encoded_delimiter'],
    ['/public%5cadmin', 'encoded_delimiter'],
    ['/public/%252e%252e/admin', 'encoded_delimiter'],
    ['/public\\..\\admin', 'backslash'],
    ['/admin%00.json', 'encoded_delimiter'],
    ['/admin\u0000', 'control_character'],
    ['//admin', 'empty_segment'],
    ['/public//admin', 'empty_segment'],
    ['/x%zz', 'bad_percent_encoding'],
    ['/x%', 'bad_percent_encoding'],
    ['/x%c3%28', 'bad_percent_encoding'],
    ['http://evil/admin', 'not_origin_form'],
    ['*', 'not_origin_form'],
    ['/a#frag', 'not_origin_form'],
    [`/${'a'.repeat(9000)}`, 'too_long'],
  ];
  for (const [target, reason] of refused) {
    test(`${JSON.stringify(target.slice(0, 40))} → ${reason}`, () => {
      assert.deepEqual(normalizeRequestTarget(target), { ok: false, reason });
    });
  }

  test('plain paths pass, decoded for matching and raw for forwarding; the query is kept apart', () => {
    assert.deepEqual(normalizeRequestTarget('/orders/42?x=1&y=%2F'), {
      ok: true,
      path: '/orders/42',
      rawPath: '/orders/42',
      query: 'x=1&y=%2F',
    });
    assert.deepEqual(normalizeRequestTarget('/caf%C3%A9/'), {
      ok: true,
      path: '/café/',
      rawPath: '/caf%C3%A9/',
      query: '',
    });
    assert.equal(normalizeRequestTarget('/').ok, true);
  });

  test('pathHasPrefix is segment-wise and case-sensitive', () => {
    assert.equal(pathHasPrefix('/orders', '/orders'), true);
    assert.equal(pathHasPrefix('/orders/1', '/orders'), true);
    assert.equal(pathHasPrefix('/ordersX', '/orders'), false);
    assert.equal(pathHasPrefix('/Orders/1', '/orders'), false);
    assert.equal(pathHasPrefix('/anything', '/'), true);
  });
});

describe('RouteTable', () => {
  const route = (id: string, match: Record<string, unknown>) =>
    routeSchema.parse({
      id,
      match,
      authenticate: ['anonymous'],
      upstream: { service: id, targets: ['http://127.0.0.1:1'] },
    });
  const table = new RouteTable([
    route('public', { path: '/' }),
    route('admin', { path: '/admin' }),
    route('admin-health', { path: '/admin/health', exact: true, methods: ['GET'] }),
    route('shop-only', { path: '/shop', hosts: ['shop.example'] }),
  ]);

  test('the most specific route wins, whatever the declaration order', () => {
    assert.equal(table.match('GET', undefined, '/admin/health')?.config.id, 'admin-health');
    assert.equal(table.match('POST', undefined, '/admin/health')?.config.id, 'admin', 'methods narrow');
    assert.equal(table.match('GET', undefined, '/admin/health/x')?.config.id, 'admin', 'exact is exact');
    assert.equal(table.match('GET', undefined, '/Admin')?.config.id, 'public', 'case-sensitive');
    assert.equal(table.match('GET', undefined, '/administrator')?.config.id, 'public', 'segment-wise');
  });

  test('hosts narrow a route', () => {
    assert.equal(table.match('GET', 'shop.example', '/shop/cart')?.config.id, 'shop-only');
    assert.equal(table.match('GET', 'other.example', '/shop/cart')?.config.id, 'public');
  });

  test('route config refuses ambiguous paths and bad upstreams at load', () => {
    for (const bad of [{ path: '/a/../b' }, { path: '/a//b' }, { path: 'relative' }]) {
      assert.equal(
        routeSchema.safeParse({
          id: 'x',
          match: bad,
          authenticate: ['jwt'],
          upstream: { service: 's', targets: ['http://127.0.0.1:1'] },
        }).success,
        false,
      );
    }
    assert.equal(
      routeSchema.safeParse({
        id: 'x',
        match: { path: '/a' },
        authenticate: ['jwt'],
        upstream: { service: 's', targets: ['http://127.0.0.1:1/path'] },
      }).success,
      false,
      'an upstream URL has no path',
    );
  });
});
