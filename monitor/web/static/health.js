// Per source: last good poll, sweep period, budget used, tiers, why it fails; per sink: up,
// backlog, dead letters, disabled. Every state is a word (and a mark), never a colour alone.

import { $, h, replace } from "./dom.js";
import { state } from "./model.js";
import { relative, seconds } from "./time.js";

function pill(kind, mark, text) {
  return h("span", { class: `pill pill-${kind}` }, h("span", { "aria-hidden": "true" }, `${mark} `), text);
}

function row(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function budget(watch) {
  const used = watch.requests_per_second;
  const limit = watch.rate_limit;
  if (used === null || used === undefined) return ["—"];
  if (!limit) return [`${used.toFixed(1)} requests/s`];
  const share = Math.round((100 * used) / limit);
  return [
    h("meter", { min: 0, max: limit, value: Math.min(used, limit), high: limit * 0.9, "aria-hidden": "true" }),
    ` ${used.toFixed(1)} of ${limit} requests/s (${share}%)`,
  ];
}

function tiers(watch) {
  const names = ["live", "pinned", "waiting", "quiet", "dormant"];
  return h(
    "ul",
    { class: "tiers" },
    names.map((name) => h("li", {}, h("span", { class: "tier-count" }, String(watch.tiers?.[name] ?? 0)), ` ${name}`)),
  );
}

function sourceCard(source) {
  let status;
  if (!source.polled_here) status = pill("info", "⇄", "Polled by another replica");
  else if (source.failing) status = pill("bad", "✖", `Failing: ${source.failing}`);
  else if (source.coverage) status = pill("warn", "▲", "Partial coverage");
  else status = pill("ok", "✔", "OK");
  const watch = source.watch;
  return h(
    "article",
    { class: "health-card", dataset: { source: source.name } },
    h("h3", {}, source.name, " ", status),
    h(
      "dl",
      {},
      row("Last successful poll", relative(h, source.last_successful_poll)),
      row("Poll interval", seconds(source.interval)),
      watch ? row("Sweep period", seconds(watch.sweep_period)) : null,
      watch ? row("Budget used", ...budget(watch)) : null,
      watch && watch.discovered_courses !== null ? row("Courses found", String(watch.discovered_courses)) : null,
      watch ? row("Contexts by tier", tiers(watch)) : null,
      source.error ? row("Error", source.error) : null,
      source.coverage ? row("Coverage", source.coverage) : null,
    ),
  );
}

function sinkCard(sink) {
  let status;
  if (sink.disabled) status = pill("bad", "⏻", "Disabled");
  else if (!sink.up) status = pill("bad", "✖", "Down");
  else if (sink.failing) status = pill("warn", "▲", "Failing");
  else status = pill("ok", "✔", "Up");
  return h(
    "article",
    { class: "health-card", dataset: { sink: sink.name } },
    h("h3", {}, sink.name, " ", h("span", { class: "sink-type" }, `(${sink.type})`), " ", status),
    h(
      "dl",
      {},
      row("Backlog", String(sink.backlog ?? "—")),
      row("Dead letters", String(sink.dead_letters ?? "—")),
      sink.disabled ? row("Disabled because", sink.disabled) : null,
      sink.failing ? row("Failing", sink.failing) : null,
    ),
  );
}

export function renderHealth() {
  const status = state.status;
  if (!status) return;
  const sources = status.sources || [];
  const sinks = status.sinks || [];
  replace($("sources"), sources.length ? sources.map(sourceCard) : h("p", { class: "empty" }, "No source."));
  replace($("sinks"), sinks.length ? sinks.map(sinkCard) : h("p", { class: "empty" }, "No sink."));
  const standby = status.standby?.length ? ` (standby; active: ${status.standby.join(", ")})` : "";
  $("replica").textContent = status.replica ? `Replica ${status.replica}${standby}.` : "";
}
