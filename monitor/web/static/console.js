// The operations console: loads what the monitor knows, then follows the event stream, so it
// stays current without a reload. Each part of the page has its own module; this one wires
// them: the token prompt, the filters, the refresh timers and the stream.

import { follow, getJSON, onTokenNeeded } from "./api.js";
import { refreshDead, onChange as onDeadChange } from "./dead.js";
import { $, h, replace } from "./dom.js";
import { renderHealth } from "./health.js";
import { renderLive } from "./live.js";
import { apply, choices, setEvents, setLive, state } from "./model.js";
import { setUpPrefs } from "./prefs.js";
import { tick } from "./time.js";
import { renderTimeline, summary } from "./timeline.js";

const STATUS_EVERY = 5000;
const LIVE_EVERY = 30000; // the stream keeps the list; this refreshes attendee counts
const HISTORY = 100;

function askForToken(wrong) {
  const dialog = $("token-dialog");
  const input = $("token-input");
  $("token-message").textContent = wrong
    ? "That token was not accepted. Enter the monitor's API token (its api_token setting)."
    : "This monitor asks for its API token (the api_token of its configuration). It is kept in this browser tab only, until the tab closes.";
  dialog.dataset.wrong = String(wrong);
  input.value = "";
  return new Promise((resolve) => {
    $("token-form").onsubmit = (e) => {
      e.preventDefault();
      if (!input.value) return;
      dialog.close();
      resolve(input.value);
    };
    dialog.oncancel = (e) => e.preventDefault(); // nothing to show without it
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
}

function connection(text, kind) {
  const node = $("connection");
  node.dataset.state = kind;
  node.textContent = text;
}

function announce(text) {
  const region = $("announcer");
  region.append(h("p", {}, text));
  while (region.childElementCount > 3) region.firstElementChild.remove();
}

// Filters: the address carries them (?source=&account=&type=&q=), so a wall screen's bookmark
// shows the same view.
const FILTERS = ["source", "account", "type", "q"];

function readFilters() {
  const query = new URLSearchParams(location.search);
  for (const name of FILTERS) state.filter[name] = query.get(name) || "";
  $("filter-q").value = state.filter.q;
}

function writeFilters() {
  const query = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    if (state.filter[name]) query.set(name, state.filter[name]);
    else query.delete(name);
  }
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function fillChoices() {
  const found = choices();
  const labels = { source: "All sources", account: "All accounts", type: "All types" };
  for (const name of ["source", "account", "type"]) {
    const select = $(`filter-${name}`);
    const values = [...found[name]];
    if (state.filter[name] && !values.includes(state.filter[name])) values.push(state.filter[name]);
    const wanted = ["", ...values].join("\n");
    if (select.dataset.values !== wanted) {
      select.dataset.values = wanted;
      replace(
        select,
        h("option", { value: "" }, labels[name]),
        values.map((v) => h("option", { value: v }, name === "account" ? `Account ${v}` : v)),
      );
    }
    select.value = state.filter[name];
  }
}

function render() {
  fillChoices();
  renderLive();
  renderTimeline();
  tick();
}

function setUpFilters() {
  readFilters();
  const form = $("filters");
  const changed = () => {
    for (const name of FILTERS) state.filter[name] = form.elements[name].value.trim();
    writeFilters();
    render();
  };
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("reset", () => setTimeout(changed));
}

async function refreshStatus() {
  try {
    state.status = await getJSON("/api/v1/status");
    renderHealth();
    fillChoices();
    await refreshDead();
  } catch (error) {
    replace($("sources"), h("p", { class: "problem" }, `Status unavailable: ${error.message}`));
  }
}

async function refreshLive() {
  try {
    setLive(await getJSON("/api/v1/live"));
    render();
  } catch (error) {
    console.warn("live list:", error);
  }
}

async function refreshEvents() {
  try {
    setEvents((await getJSON(`/api/v1/events?limit=${HISTORY}`)).events || []);
  } catch (error) {
    console.warn("event history:", error);
  }
}

let statusSoon = null;

function onEvent(message) {
  if (message.type === "reset") {
    // What we had is gone from the history: start again from what the monitor has now.
    Promise.all([refreshEvents(), refreshLive()]).then(render);
    return;
  }
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  event.id ??= message.id;
  event.type ??= message.type;
  if (!apply(event)) return;
  render();
  announce(summary(event));
  clearTimeout(statusSoon);
  statusSoon = setTimeout(refreshStatus, 500); // backlogs and dead letters move with events
}

async function main() {
  setUpPrefs();
  setUpFilters();
  onTokenNeeded(askForToken);
  onDeadChange(refreshStatus);
  await Promise.all([refreshLive(), refreshEvents(), refreshStatus()]);
  render();
  follow({
    lastId: state.events[0]?.id || null,
    onEvent,
    onState: (s, resumed) => {
      if (s !== "live") {
        connection("Reconnecting…", "down");
        return;
      }
      connection("● Live", "live");
      // With no event to resume after (the history was empty), the stream starts at what is
      // new now: what came since the first read is read again, so the timeline misses nothing.
      if (!resumed) Promise.all([refreshEvents(), refreshLive()]).then(render);
    },
  });
  setInterval(tick, 1000);
  setInterval(refreshStatus, STATUS_EVERY);
  setInterval(refreshLive, LIVE_EVERY);
}

main();
