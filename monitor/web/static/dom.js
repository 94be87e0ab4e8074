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

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
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
