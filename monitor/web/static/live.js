// The live conferences: one card each, with its course, type, start, running time and people.

import { $, counted, h, replace } from "./dom.js";
import { attendees, liveShown, state } from "./model.js";
import { exact, parse, relative } from "./time.js";

export function courseLabel(context) {
  if (!context) return null;
  const name = context.name || `${context.type || "Context"} ${context.id ?? ""}`.trim();
  return context.course_code && context.course_code !== name
    ? `${name} · ${context.course_code}`
    : name;
}

// Before the monitor learnt a course's name (it was live before the monitor started): its id.
function contextOf(conference) {
  const id = conference?.context_id;
  return id === undefined || id === null ? "Course unknown" : `${conference.context_type || "Context"} ${id}`;
}

function canvasLink(conference) {
  const title = conference?.title || `Conference ${conference?.id ?? ""}`;
  const url = conference?.url;
  if (typeof url === "string" && /^https?:\/\//i.test(url)) {
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, title);
  }
  return title;
}

function people(conference) {
  const count = attendees(conference);
  if (count === null) return null;
  const invited = Array.isArray(conference.users) ? conference.users.length : null;
  const title = invited === null ? null : `${count} attended, ${invited} invited`;
  return h("span", { class: "people", title }, `${count} ${count === 1 ? "person" : "people"}`);
}

function card(item) {
  const { conference, context } = item;
  const started = parse(item.startedAt);
  return h(
    "li",
    { class: "card", dataset: { key: `${item.source}/${conference?.id}` } },
    h("h3", { class: "card-title" }, canvasLink(conference)),
    h("p", { class: "course" }, courseLabel(context) || contextOf(conference)),
    h(
      "p",
      { class: "facts" },
      h("span", { class: "badge" }, conference?.conference_type || "Unknown type"),
      h("span", { class: "source" }, `source ${item.source}`),
      people(conference),
    ),
    h(
      "p",
      { class: "times" },
      relative(h, item.startedAt, "started "),
      started === null
        ? null
        : h(
            "span",
            { class: "running" },
            "running ",
            h("span", { class: "counter", title: `since ${exact(started)}`, dataset: { running: String(started) } }),
          ),
    ),
  );
}

export function renderLive() {
  const shown = liveShown();
  replace($("live-list"), shown.map(card));
  counted("live", shown.length, state.live.size, {
    none: "No conference is live.",
    filtered: "No live conference matches the filters.",
  });
}
