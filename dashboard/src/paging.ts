// Long lists: the server gives at most MAX_PAGE cases per request, with the total of every match. A view
// shows the first `count` of a list and lets the desk load more; a refresh fetches the same count again.

/** The most the server gives in one request (`limit`, sync-server MAX_PAGE). */
export const MAX_PAGE = 500;

export interface Page<T> {
  items: T[];
  total: number;
}

/**
 * The first `count` items of a list, in as many requests of at most `max` as that takes, and the list's
 * total as the last request said. An item already seen on an earlier page is not repeated (the list may
 * move between two requests); the requests stop at the end of the list.
 */
export async function fetchFirst<T extends { id: string }>(
  fetchPage: (offset: number, limit: number) => Promise<Page<T>>,
  count: number,
  max = MAX_PAGE,
): Promise<Page<T>> {
  const want = Math.max(1, Math.floor(count));
  const items: T[] = [];
  const seen = new Set<string>();
  let total = 0;
  let offset = 0;
  while (offset < want) {
    const limit = Math.min(max, want - offset);
    const page = await fetchPage(offset, limit);
    total = page.total;
    for (const x of page.items) {
      if (seen.has(x.id)) continue;
      seen.add(x.id);
      items.push(x);
    }
    offset += limit;
    if (page.items.length < limit || offset >= total) break;
  }
  return { items, total };
}
