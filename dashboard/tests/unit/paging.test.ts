import { describe, expect, it } from 'vitest';
import { fetchFirst, type Page } from '../../src/paging';
import { setLang, tf } from '../../src/i18n';

/** A server list of `n` cases: pages as the API gives them, and the requests it saw. */
function server(n: number) {
  let list = Array.from({ length: n }, (_, i) => ({ id: `c${i}` }));
  const requests: [number, number][] = [];
  return {
    requests,
    /** The list changes between requests (a case arrives at the front). */
    prepend(id: string) {
      list = [{ id }, ...list];
    },
    async page(offset: number, limit: number): Promise<Page<{ id: string }>> {
      requests.push([offset, limit]);
      return { items: list.slice(offset, offset + limit), total: list.length };
    },
  };
}

describe('fetchFirst: the first N of a long list', () => {
  it('takes one request when N fits in a page', async () => {
    const s = server(1234);
    const got = await fetchFirst((o, l) => s.page(o, l), 100);
    expect(got.items.map((x) => x.id)).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`));
    expect(got.total).toBe(1234);
    expect(s.requests).toEqual([[0, 100]]);
  });

  it('pages at most 500 at a time, in order, up to N', async () => {
    const s = server(1234);
    const got = await fetchFirst((o, l) => s.page(o, l), 1200);
    expect(got.items).toHaveLength(1200);
    expect(got.items[1199].id).toBe('c1199');
    expect(got.total).toBe(1234);
    expect(s.requests).toEqual([
      [0, 500],
      [500, 500],
      [1000, 200],
    ]);
  });

  it('stops at the end of the list', async () => {
    const s = server(620);
    const got = await fetchFirst((o, l) => s.page(o, l), 5000);
    expect(got.items).toHaveLength(620);
    expect(got.total).toBe(620);
    expect(s.requests).toEqual([
      [0, 500],
      [500, 500],
    ]);
    const empty = server(0);
    expect(await fetchFirst((o, l) => empty.page(o, l), 100)).toEqual({ items: [], total: 0 });
    expect(empty.requests).toEqual([[0, 100]]);
  });

  it('does not repeat a case the list pushed onto the next page', async () => {
    const s = server(600);
    const got = await fetchFirst(
      async (o, l) => {
        const p = await s.page(o, l);
        if (o === 0) s.prepend('new');
        return p;
      },
      1000,
      500,
    );
    const ids = got.items.map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    // c499, pushed onto the second page, is there once; the new case at the front comes with the next refresh.
    expect(ids).toHaveLength(600);
    expect(ids.filter((id) => id === 'c499')).toHaveLength(1);
    expect(got.total).toBe(601);
  });

  it('asks for at least one', async () => {
    const s = server(3);
    await fetchFirst((o, l) => s.page(o, l), 0);
    expect(s.requests).toEqual([[0, 1]]);
  });
});

describe('labels with numbers', () => {
  it('fills in the placeholders, in both languages', () => {
    setLang('zh');
    expect(tf('shown_of', { n: 100, m: 523 })).toBe('显示 100 / 共 523 件');
    expect(tf('map_capped', { n: 500, m: 10006 })).toBe('地图仅显示最新 500 件，共 10006 件');
    setLang('en');
    expect(tf('shown_of', { n: 100, m: 523 })).toBe('Showing 100 of 523');
    expect(tf('map_capped', { n: 500, m: 10006 })).toBe('The map shows the newest 500 of 10006 cases');
    setLang('zh');
  });

  it('leaves a placeholder it was not given', () => {
    expect(tf('shown_of', { n: 1 })).toBe('显示 1 / 共 {m} 件');
  });
});
