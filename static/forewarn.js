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
})();
