// The viewer's choices, remembered in this browser: large type (a wall screen) and the theme
// (auto follows the system's prefers-color-scheme).

import { $ } from "./dom.js";

const LARGE = "conference-monitor.large";
const THEME = "conference-monitor.theme";
const THEMES = ["auto", "light", "dark"];

function read(key, fallback) {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback; // storage refused (a locked-down kiosk): choices last for the page
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // as above
  }
}

function applyLarge(on) {
  document.documentElement.classList.toggle("large", on);
  $("large-toggle").setAttribute("aria-pressed", String(on));
}

function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  $("theme-toggle").textContent = `Theme: ${theme}`;
}

export function setUpPrefs() {
  // ?large=1 in the address turns it on too: a wall screen's bookmark carries it.
  const asked = new URLSearchParams(location.search).get("large");
  let large = asked === null ? read(LARGE, "0") === "1" : asked === "1";
  let theme = THEMES.includes(read(THEME, "auto")) ? read(THEME, "auto") : "auto";
  applyLarge(large);
  applyTheme(theme);
  $("large-toggle").addEventListener("click", () => {
    large = !large;
    write(LARGE, large ? "1" : "0");
    applyLarge(large);
  });
  $("theme-toggle").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    write(THEME, theme);
    applyTheme(theme);
  });
}
