// The recent events, newest first: starts, ends with their reason, restarts, recordings, and
// any type added later, shown generically with what it carries.

import { $, counted, h, replace } from "./dom.js";
import { courseLabel } from "./live.js";
import { eventsShown, state } from "./model.js";
import { clock, parse, relative, span } from "./time.js";

const REASONS = {
  expired: "past Canvas's 24 h live window",
  out_of_scope: "no longer visible to the monitor's token",
  unconfirmed: "Canvas could not confirm how it ended",
};

export function describe(event) {
  const data = event.data || {};
  switch (event.type) {
    case "conference.started":
      return data.restart
        ? { kind: "restarted", mark: "↻", label: "Restarted" }
        : { kind: "started", mark: "▶", label: "Started" };
    case "conference.ended": {
      const why = REASONS[data.reason];
      const reason = !data.reason ? "none given" : why ? `${data.reason} (${why})` : data.reason;
      return { kind: "ended", mark: "■", label: "Ended", detail: `reason: ${reason}` };
    }
    case "conference.recording_ready":
      return { kind: "recording", mark: "●", label: "Recording ready" };
    default:
      return { kind: "other", mark: "◆", label: `Event ${event.type || "(no type)"}` };
  }
}

function lasted(event) {
  const data = event.data || {};
  if (event.type !== "conference.ended") return null;
  const from = parse(data.started_at);
  const to = parse(data.ended_at) ?? parse(event.timestamp);
  if (from === null || to === null || to < from) return null;
  return `after ${span(Math.round((to - from) / 1000))}`;
}

export function summary(event) {
  const data = event.data || {};
  const what = describe(event);
  const title = data.conference?.title || (data.conference ? `conference ${data.conference.id}` : "");
  return [what.label, title, courseLabel(data.context)].filter(Boolean).join(": ");
}

function item(event) {
  const data = event.data || {};
  const what = describe(event);
  const at = parse(event.timestamp);
  const conference = data.conference;
  return h(
    "li",
    { class: `event event-${what.kind}`, dataset: { id: event.id, type: event.type } },
    h(
      "p",
      { class: "event-head" },
      h("span", { class: "event-kind" }, h("span", { "aria-hidden": "true" }, `${what.mark} `), what.label),
      at === null ? null : h("span", { class: "event-clock" }, clock(at)),
      relative(h, event.timestamp),
    ),
    h(
      "p",
      { class: "event-body" },
      conference ? h("span", { class: "event-title" }, conference.title || `Conference ${conference.id}`) : null,
      data.context ? h("span", { class: "course" }, conference ? "— " : "", courseLabel(data.context)) : null,
      data.source ? h("span", { class: "source" }, `source ${data.source}`) : null,
    ),
    what.detail || lasted(event)
      ? h("p", { class: "event-detail" }, [what.detail, lasted(event)].filter(Boolean).join(" · "))
      : null,
    data.recording?.title ? h("p", { class: "event-detail" }, `recording: ${data.recording.title}`) : null,
  );
}

export function renderTimeline() {
  const shown = eventsShown();
  replace($("events-list"), shown.map(item));
  counted("events", shown.length, state.events.length, {
    none: "No event yet.",
    filtered: "No event matches the filters.",
  });
}
