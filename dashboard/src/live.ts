// Live updates: the server's event stream (GET /api/v1/events, server-sent events) says which case was
// saved, by a device's sync or a desk's action; open views refresh what they show. EventSource cannot set
// headers, so the desk token goes in the query string (same origin).

export interface CaseChanged {
  id: string;
  stage: string | null;
}

type Listener = (e: CaseChanged) => void;

const listeners = new Set<Listener>();
let source: EventSource | null = null;
let statusCb: (up: boolean) => void = () => {};

export function onCaseChanged(f: Listener): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

/**
 * Opens the stream. `onRevoked` runs when the server says the token was revoked or rotated (the stream
 * then ends; reconnecting would only be refused).
 */
export function connect(token: string, onStatus: (up: boolean) => void, onRevoked: () => void): void {
  disconnect();
  statusCb = onStatus;
  source = new EventSource(`/api/v1/events?token=${encodeURIComponent(token)}`);
  source.addEventListener('open', () => statusCb(true));
  source.addEventListener('error', () => statusCb(false));
  source.addEventListener('revoked', () => {
    disconnect();
    onRevoked();
  });
  source.addEventListener('case_changed', (ev) => {
    let data: CaseChanged;
    try {
      data = JSON.parse((ev as MessageEvent).data);
    } catch {
      return;
    }
    for (const f of listeners) f(data);
  });
}

export function disconnect(): void {
  source?.close();
  source = null;
  statusCb(false);
}

/** Calls `f` at most once per `ms`, after the last of a burst of calls. */
export function debounce(f: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(f, ms);
  };
}
