// What the console knows: live conferences, recent events, the health of sources and sinks,
// and which of them the filters let through. No DOM here.

export const MAX_EVENTS = 200;

export const state = {
  live: new Map(), // "source/conference id" -> {source, conference, context, startedAt}
  events: [], // newest first, each with its webhook id
  seen: new Set(),
  status: null, // /api/v1/status
  filter: { source: "", account: "", type: "", q: "" },
};

const key = (source, conference) => `${source}/${conference?.id}`;

export function contextKey(conference) {
  return `${conference?.context_type}:${conference?.context_id}`;
}

// From /api/v1/live: the whole list, replacing what the stream built.
export function setLive(body) {
  state.live.clear();
  for (const source of body.sources || []) {
    for (const conference of source.conferences || []) {
      state.live.set(key(source.name, conference), {
        source: source.name,
        conference,
        context: source.contexts?.[contextKey(conference)] || null,
        startedAt: conference.started_at,
      });
    }
  }
}

// From /api/v1/events: newest first.
export function setEvents(events) {
  state.events = [];
  state.seen.clear();
  for (const event of events) remember(event, false);
}

function remember(event, first) {
  if (!event.id || state.seen.has(event.id)) return false;
  state.seen.add(event.id);
  if (first) state.events.unshift(event);
  else state.events.push(event);
  while (state.events.length > MAX_EVENTS) state.seen.delete(state.events.pop().id);
  return true;
}

// One event from the stream: into the timeline, and into the live list when it starts or
// ends a conference. False when it was already known (a replay after a reconnect).
export function apply(event) {
  if (!remember(event, true)) return false;
  const data = event.data || {};
  const id = key(data.source, data.conference);
  if (event.type === "conference.started") {
    state.live.set(id, {
      source: data.source,
      conference: data.conference,
      context: data.context || null,
      startedAt: data.started_at || data.conference?.started_at,
    });
  } else if (event.type === "conference.ended") {
    state.live.delete(id);
  }
  return true;
}

export function attendees(conference) {
  if (Array.isArray(conference?.attendees)) return conference.attendees.length;
  if (Array.isArray(conference?.users)) return conference.users.length;
  return null;
}

function matches(source, conference, context) {
  const { filter } = state;
  if (filter.source && source !== filter.source) return false;
  if (filter.account && String(context?.account_id ?? "") !== filter.account) return false;
  if (filter.type && conference?.conference_type !== filter.type) return false;
  if (!filter.q) return true;
  const haystack = [
    conference?.title,
    conference?.conference_type,
    context?.name,
    context?.course_code,
    source,
  ]
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
  return filter.q
    .toLowerCase()
    .split(/\s+/)
    .every((word) => haystack.includes(word));
}

export function liveShown() {
  return [...state.live.values()]
    .filter((item) => matches(item.source, item.conference, item.context))
    .sort((a, b) => String(b.startedAt || "").localeCompare(String(a.startedAt || "")));
}

export function eventsShown() {
  return state.events.filter((event) =>
    matches(event.data?.source, event.data?.conference, event.data?.context),
  );
}

// The choices each filter offers: every value seen in the live list, the timeline and status.
export function choices() {
  const sources = new Set();
  const accounts = new Set();
  const types = new Set();
  const note = (source, conference, context) => {
    if (source) sources.add(source);
    if (context?.account_id !== null && context?.account_id !== undefined) {
      accounts.add(String(context.account_id));
    }
    if (conference?.conference_type) types.add(conference.conference_type);
  };
  for (const item of state.live.values()) note(item.source, item.conference, item.context);
  for (const event of state.events) {
    note(event.data?.source, event.data?.conference, event.data?.context);
  }
  for (const source of state.status?.sources || []) sources.add(source.name);
  const sorted = (set) => [...set].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  return { source: sorted(sources), account: sorted(accounts), type: sorted(types) };
}
