import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classify, routes } from '../../src/catalog.js';
import type { Category } from '../../src/index.js';
import { concretePath } from '../helpers.js';

interface CatalogRow {
  method: string;
  path: string;
  category: Category | null;
}
const catalog: CatalogRow[] = JSON.parse(readFileSync(new URL('../fixtures/routes.json', import.meta.url), 'utf8'));

describe('classify', () => {
  it('holds the whole catalog of routes.json, most specific first', () => {
    expect(catalog).toHaveLength(171);
    const row = (r: { method: string; path: string; category: Category | null }) =>
      `${r.method} ${r.path} ${r.category}`;
    expect(routes.map((r) => row({ ...r, path: `/{org}/{app}/${r.path}` })).sort()).toEqual(catalog.map(row).sort());
    // of two routes a path can match both, the one with a literal where they first differ comes first
    const param = (segment: string | undefined) => segment?.startsWith('{') === true;
    routes.forEach((later, i) => {
      const b = later.path.split('/');
      for (const earlier of routes.slice(0, i)) {
        const a = earlier.path.split('/');
        const overlap = a.length === b.length && a.every((s, k) => param(s) || param(b[k]) || s === b[k]);
        const first = a.findIndex((s, k) => param(s) !== param(b[k]));
        if (overlap && first !== -1) expect(param(a[first]), `${earlier.path} before ${later.path}`).toBe(false);
      }
    });
  });

  it.each(catalog.map((row) => [row.method, row.path, row.category] as const))(
    '%s %s → %s',
    (method, path, category) => {
      const match = classify(method, concretePath(path));
      if (category === null) {
        expect(match).toBeUndefined();
        return;
      }
      expect(match?.category).toBe(category);
      expect(match?.route.path).toBe(path.slice('/{org}/{app}/'.length));
      expect(match?.appKey).toBe('acme#chat');
      // every parameter comes back by name with the value that was in the path
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        if (name === 'org' || name === 'app') continue;
        expect(match?.params[name as string]).toBe(concretePath(`{${name}}`));
      }
    },
  );

  it('lets literal segments win over parameters, and backtracks to the parameter', () => {
    expect(classify('POST', '/acme/chat/users/batch/status')?.route.path).toBe('users/batch/status');
    expect(classify('GET', '/acme/chat/users/batch/status')?.route.path).toBe('users/{username}/status');
    expect(classify('GET', '/acme/chat/users/batch/contacts')?.params).toEqual({ username: 'batch' });
    expect(classify('GET', '/acme/chat/chatrooms/super_admin')?.route.path).toBe('chatrooms/super_admin');
    expect(classify('GET', '/acme/chat/metadata/user/capacity')?.route.path).toBe('metadata/user/capacity');
    expect(classify('GET', '/acme/chat/metadata/user/alice')?.route.path).toBe('metadata/user/{username}');
    expect(classify('POST', '/acme/chat/metadata/user/get')?.route.path).toBe('metadata/user/get');
    expect(classify('GET', '/acme/chat/chatgroups/user/alice')?.route.path).toBe('chatgroups/user/{username}');
  });

  it('depends on the method', () => {
    expect(classify('POST', '/acme/chat/chatfiles')?.category).toBe('files');
    expect(classify('GET', '/acme/chat/chatfiles')).toBeUndefined();
    expect(classify('PATCH', '/acme/chat/users/alice')).toBeUndefined();
    expect(classify('get', '/acme/chat/users/alice')?.category).toBe('users');
    expect(classify('HEAD', '/acme/chat/users/alice')?.category).toBe('users');
  });

  it('reads the path as Express routes it: one trailing slash, no query or fragment, decoded parameters, any case', () => {
    const expected = { category: 'users', appKey: 'acme#chat', params: { username: 'Alice.Smith' } };
    for (const path of [
      '/acme/chat/users/Alice.Smith/',
      '/acme/chat/users/Alice.Smith?x=1&y=/2',
      '/acme/chat/users/Alice.Smith#frag',
      'http://im.example.com/acme/chat/users/Alice.Smith',
      '/acme/chat/users/Alice%2ESmith',
      '/acme/chat/USERS/Alice.Smith',
      '/ACME/Chat/users/Alice.Smith',
      '/%61cme/chat/users/Alice.Smith',
    ]) {
      expect(classify('GET', path), path).toMatchObject(expected);
    }
    // what Express does not dispatch to the route is not charged to it
    for (const path of [
      '//acme//chat///users/Alice.Smith',
      '/acme/chat/users/Alice.Smith//',
      '/acme/chat/%75sers/Alice.Smith',
      '/acme/chat/users/%zz',
    ]) {
      expect(classify('GET', path), path).toBeUndefined();
    }
    expect(classify('DELETE', '/acme/chat/chatgroups/42/users/a,b,c')?.params).toEqual({
      group_id: '42',
      username: 'a,b,c',
    });
    expect(classify('GET', '/acme/chat/users/%E4%BD%A0%E5%A5%BD')?.params).toEqual({ username: '你好' });
  });

  it('passes routes outside the catalog through', () => {
    for (const [method, path] of [
      ['POST', '/acme/chat/token'],
      ['GET', '/acme/chat'],
      ['GET', '/'],
      ['GET', ''],
      ['GET', '/acme/chat/unknown'],
      ['GET', '/acme/chat/users/alice/unknown'],
      ['POST', '/acme/chat/users/alice/presence'],
    ] as const) {
      expect(classify(method, path), `${method} ${path}`).toBeUndefined();
    }
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ unit: 'binary' }), (method, path) => {
        classify(method, path);
        classify('GET', path);
        classify('POST', `/a/b/${path}`);
      }),
      { numRuns: 2000 },
    );
    expect(classify(undefined as unknown as string, null as unknown as string)).toBeUndefined();
  });
});
