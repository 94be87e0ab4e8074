// A tiny element builder: text always goes in as text (never as HTML), so a conference title
// that holds markup shows as typed and can never run.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Lists are drawn again whenever an event arrives; that must not throw away the keyboard
// focus of someone tabbing through them. The focused element is found again in the new
// children by its item's key (``data-key``, ``data-id`` or ``data-sink``) and its place among
// that item's focusable elements.
const KEYS = ["key", "id", "sink"];
const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

function focusPlace(node) {
  const active = document.activeElement;
  if (!active || active === node || !node.contains(active)) return null;
  const item = active.closest(KEYS.map((k) => `[data-${k}]`).join(", "));
  if (!item || !node.contains(item)) return null;
  const key = KEYS.find((k) => item.dataset[k] !== undefined);
  const index = item === active ? -1 : [...item.querySelectorAll(FOCUSABLE)].indexOf(active);
  return { key, value: item.dataset[key], index };
}

function refocus(node, place) {
  const item = [...node.querySelectorAll(`[data-${place.key}]`)].find(
    (e) => e.dataset[place.key] === place.value,
  );
  const target = place.index < 0 ? item : item?.querySelectorAll(FOCUSABLE)[place.index];
  target?.focus({ preventScroll: true });
}

export function replace(node, ...children) {
  const place = focusPlace(node);
  node.replaceChildren();
  append(node, children);
  if (place) refocus(node, place);
}

export function $(id) {
  return document.getElementById(id);
}

// A list's heading count ("(12)", or "(3 of 12)" when filtered) and its empty-list line.
export function counted(name, shown, total, empty) {
  $(`${name}-count`).textContent = shown === total ? `(${total})` : `(${shown} of ${total})`;
  const line = $(`${name}-empty`);
  line.hidden = shown > 0;
  line.textContent = total ? empty.filtered : empty.none;
}
