// Times for people: relative ("12 min ago") in the text, the exact local time in a tooltip,
// and running durations that tick.

export function parse(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

export function exact(ms) {
  return new Date(ms).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  });
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function ago(ms, now = Date.now()) {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < -5) return `in ${span(-seconds)}`;
  if (seconds < 10) return "just now";
  return `${span(seconds)} ago`;
}

export function span(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d`;
}

export function running(ms, now = Date.now()) {
  const total = Math.max(0, Math.floor((now - ms) / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(total / 3600);
  return `${hours}:${pad(Math.floor(total / 60) % 60)}:${pad(total % 60)}`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  return value >= 120 ? span(Math.round(value)) : `${Number(value.toFixed(1))} s`;
}

// Every element with data-ago (or data-running) holding epoch ms, updated in place each second.
export function tick(root = document) {
  const now = Date.now();
  for (const node of root.querySelectorAll("[data-ago]")) {
    node.textContent = (node.dataset.prefix || "") + ago(Number(node.dataset.ago), now);
  }
  for (const node of root.querySelectorAll("[data-running]")) {
    node.textContent = running(Number(node.dataset.running), now);
  }
}

// <time> showing "12 min ago" that keeps itself current, exact local time on hover and focus.
export function relative(h, iso, prefix = "") {
  const ms = parse(iso);
  if (ms === null) return h("span", { class: "unknown" }, "—");
  return h(
    "time",
    { datetime: iso, title: exact(ms), dataset: { ago: String(ms), prefix } },
    prefix + ago(ms),
  );
}
