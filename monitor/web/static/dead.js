// Dead letters per sink: what was given up on and why, with replay and purge (purge asks
// first). The same store operations as `conference-monitor dlq`, through the API.

import { getJSON, postJSON } from "./api.js";
import { $, h, replace } from "./dom.js";
import { state } from "./model.js";
import { summary } from "./timeline.js";
import { relative } from "./time.js";

const lists = new Map(); // sink -> dead letters, as last read
const counts = new Map(); // sink -> the count those were read at
let changed = () => {};

export function onChange(handler) {
  changed = handler;
}

const path = (sink) => `/api/v1/sinks/${encodeURIComponent(sink)}/dead-letters`;

function notice(text) {
  $("dead-notice").textContent = text;
}

function confirmPurge(sink, count) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = `Purge ${count} dead letter${count === 1 ? "" : "s"} of ${sink}?`;
  $("confirm-message").textContent =
    "Purging forgets these events for good: they will not be delivered. Replay them instead if the receiver is fixed.";
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-form").onsubmit = null;
      $("confirm-cancel").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $("confirm-form").onsubmit = (e) => {
      e.preventDefault();
      done(true);
    };
    $("confirm-cancel").onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function act(sink, action, body) {
  try {
    const answer = await postJSON(`${path(sink)}/${action}`, body);
    const n = action === "replay" ? answer.replayed : answer.purged;
    notice(
      action === "replay"
        ? `${sink}: ${n} dead letter${n === 1 ? "" : "s"} sent back for delivery.`
        : `${sink}: ${n} dead letter${n === 1 ? "" : "s"} purged.`,
    );
  } catch (error) {
    notice(`${sink}: ${action} failed: ${error.message}`);
  }
  counts.delete(sink);
  await changed();
}

function letterRow(sink, letter) {
  const event = letter.event || { type: letter.type, data: {} };
  return h(
    "tr",
    { dataset: { id: letter.id } },
    h("td", {}, relative(h, letter.dead_at)),
    h("td", {}, summary(event) || letter.type),
    h("td", {}, letter.reason || "—"),
    h("td", { class: "number" }, String(letter.attempts ?? "—")),
    h(
      "td",
      {},
      h(
        "button",
        { type: "button", class: "small", "aria-label": `Replay ${summary(event)}`, onclick: () => act(sink, "replay", { ids: [letter.id] }) },
        "Replay",
      ),
    ),
  );
}

function sinkSection(sink, letters) {
  const n = letters.length;
  return h(
    "section",
    { class: "dead-sink", dataset: { sink }, "aria-labelledby": `dead-${sink}` },
    h("h3", { id: `dead-${sink}` }, `${sink}: ${n} dead letter${n === 1 ? "" : "s"}`),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "replay-all", onclick: () => act(sink, "replay", {}) }, `Replay all ${n}`),
      h(
        "button",
        {
          type: "button",
          class: "danger purge-all",
          onclick: async () => {
            // The ids shown: a dead letter that arrived since is not purged unseen.
            if (await confirmPurge(sink, n)) await act(sink, "purge", { ids: letters.map((l) => l.id) });
          },
        },
        `Purge all ${n}…`,
      ),
    ),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, `Dead letters of ${sink}`),
        h("thead", {}, h("tr", {}, ["Dead since", "Event", "Reason", "Attempts", "Action"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, letters.map((letter) => letterRow(sink, letter))),
      ),
    ),
  );
}

// Read the list of each sink whose count changed; show those that have any.
// Re-drawn only when a list changed, so keyboard focus stays on its button between refreshes.
export async function refreshDead() {
  const sinks = state.status?.sinks || [];
  let dirty = lists.size !== sinks.length;
  await Promise.all(
    sinks.map(async (sink) => {
      const count = sink.dead_letters || 0;
      if (counts.get(sink.name) === count) return;
      if (count === 0) lists.set(sink.name, []);
      else {
        try {
          lists.set(sink.name, (await getJSON(path(sink.name))).dead_letters || []);
        } catch (error) {
          notice(`${sink.name}: could not read dead letters: ${error.message}`);
          return;
        }
      }
      counts.set(sink.name, count);
      dirty = true;
    }),
  );
  if (!dirty) return;
  for (const name of lists.keys()) if (!sinks.some((s) => s.name === name)) lists.delete(name);
  const shown = sinks.filter((sink) => lists.get(sink.name)?.length);
  replace(
    $("dead-letters"),
    shown.length
      ? shown.map((sink) => sinkSection(sink.name, lists.get(sink.name)))
      : h("p", { class: "empty" }, "No dead letters."),
  );
}
