// Small progressive enhancements; every page works without JavaScript. No inline scripts or
// on* attributes anywhere: the Content-Security-Policy allows scripts from this file only.
// base.html loads it on every page; a page may load it again, so it runs once.
(() => {
if (window.forewarnLoaded) return;
window.forewarnLoaded = true;

// Buttons that need a confirmation carry data-confirm on their form.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  navigator.clipboard.writeText(text.trim()).then(() => {
    const old = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = old; }, 1500);
  });
});

// Change editor: refresh the notice check (affected tenants, strictest requirement, earliest
// start, blackouts, material or not) as the engineer types; the Preview button does the same
// without JavaScript.
(() => {
  const form = document.getElementById("change-form");
  if (!form || !window.fetch) return;
  let timer = null;
  const refresh = () => {
    const data = new FormData(form);
    data.set("action", "preview");
    fetch(form.dataset.previewUrl, {method: "POST", body: data, credentials: "same-origin",
                                    headers: {"X-Forewarn-Fragment": "preview"}})
      .then((r) => (r.ok || r.status === 400 ? r.text() : null))
      .then((html) => {
        const box = document.getElementById("notice-preview");
        if (html && box && html.includes('id="notice-preview"')) box.outerHTML = html;
      })
      .catch(() => {});
  };
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
})();

// Phones: the main menu collapses behind a "Menu" button (CSS shows the button below 760 px;
// without JavaScript the menu simply stays open).
document.documentElement.classList.add("js");
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (!toggle) return;
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  toggle.closest(".topbar").classList.toggle("open", open);
});

// A table that scrolls sideways inside its box (phones) must be reachable by keyboard (WCAG
// 2.1.1; axe "scrollable-region-focusable").
const focusScrollingTables = () => {
  document.querySelectorAll("main table").forEach((table) => {
    if (table.scrollWidth > table.clientWidth + 1) table.setAttribute("tabindex", "0");
    else if (table.getAttribute("tabindex") === "0") table.removeAttribute("tabindex");
  });
};
document.addEventListener("DOMContentLoaded", focusScrollingTables);
window.addEventListener("resize", focusScrollingTables);
})();
