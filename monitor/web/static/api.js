// Talking to the monitor: JSON with the API token, and the event stream.
//
// The token lives in sessionStorage (this tab, until it closes) and goes in an Authorization
// header on every request, the stream's too: the stream is read with fetch(), not EventSource,
// so the token never sits in a URL (logs, history), a 401 can be told from a network failure,
// and events of a type added later still arrive (EventSource hands named events only to a
// listener registered for that exact name).

const TOKEN_KEY = "conference-monitor.api-token";

export class HttpError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

let asking = null;
let askHandler = async () => {
  throw new HttpError(401, "unauthorized");
};

// The console says how to ask a person for the token: ``ask(wrong)`` resolves to the token.
export function onTokenNeeded(handler) {
  askHandler = handler;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// One prompt however many requests were refused at once; they all wait for it.
async function askForToken() {
  if (!asking) {
    const wrong = token() !== null;
    asking = askHandler(wrong).then((typed) => {
      sessionStorage.setItem(TOKEN_KEY, typed);
      asking = null;
    });
  }
  return asking;
}

function headers(extra = {}) {
  const given = token();
  return given ? { ...extra, Authorization: `Bearer ${given}` } : extra;
}

// fetch() with the token; a 401 asks for the token (again) and tries once more per answer.
async function authorized(path, init = {}) {
  for (;;) {
    const response = await fetch(path, {
      cache: "no-store",
      ...init,
      headers: headers(init.headers),
    });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    await askForToken();
  }
}

async function json(response) {
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new HttpError(response.status, body?.error || body?.detail);
  return body;
}

export async function getJSON(path) {
  return json(await authorized(path, { headers: { Accept: "application/json" } }));
}

export async function postJSON(path, body = {}) {
  return json(
    await authorized(path, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
}

// Read ``text/event-stream`` from a fetch() body: the WHATWG parsing rules, in short.
async function readEvents(response, signal, onEvent, onAlive) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, type: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done || signal.aborted) return;
    onAlive();
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (event.data.length) onEvent({ ...event, data: event.data.join("\n") });
        event = { id: event.id, type: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") event.data.push(text);
      else if (field === "event") event.type = text;
      else if (field === "id") event.id = text;
    }
  }
}

// Follow the stream for good: resume after the last id seen, reconnect with backoff, ask for
// the token on 401, say whether a connection resumed (``onState("live", resumed)``), and give up on a connection silent for longer than ``silence`` ms (the
// server sends ": ping" every 15 s, so a wall screen notices a dead link).
export function follow({ lastId, onEvent, onState, silence = 45000 }) {
  let last = lastId;
  let delay = 1000;
  let stopped = false;
  let controller = null;

  async function once() {
    controller = new AbortController();
    const { signal } = controller;
    let timer = null;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), silence);
    };
    try {
      const extra = { Accept: "text/event-stream" };
      if (last) extra["Last-Event-ID"] = last;
      alive();
      const response = await authorized("/api/v1/events/stream", { headers: extra, signal });
      if (!response.ok) {
        const wait = Number(response.headers.get("Retry-After"));
        if (wait > 0) delay = Math.max(delay, wait * 1000);
        throw new HttpError(response.status);
      }
      onState("live", Boolean(last)); // resumed: nothing was missed; else re-read what is
      delay = 1000;
      await readEvents(response, signal, (event) => {
        if (event.id) last = event.id;
        onEvent(event);
      }, alive);
    } finally {
      clearTimeout(timer);
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (error) {
        if (stopped) return;
        console.debug("event stream:", error);
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  })();

  return () => {
    stopped = true;
    controller?.abort();
  };
}
