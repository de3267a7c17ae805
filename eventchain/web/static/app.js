// Countdowns tick from the server's clock (data-seconds at render time); the page
// reloads when the analyst snapshot is republished (polls /api/freshness).
(function () {
  const rendered = Date.now();
  const left = document.querySelector("html").lang === "en" ? ["left", "overdue"] : ["剩余", "已超时"];
  function tick() {
    document.querySelectorAll(".countdown[data-seconds]").forEach(function (el) {
      const seconds = Number(el.dataset.seconds) - Math.round((Date.now() - rendered) / 1000);
      const minutes = Math.floor(Math.abs(seconds) / 60);
      const text = (minutes >= 60 ? Math.floor(minutes / 60) + "h" + (minutes % 60) + "m" : minutes + "m");
      el.textContent = seconds >= 0 ? left[0] + " " + text : left[1] + " " + text;
      el.classList.toggle("late", seconds < 0);
    });
  }
  tick();
  setInterval(tick, 1000);
  const published = document.body.dataset.published;
  if (!document.querySelector("#who")) return;
  setInterval(function () {
    if (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
    fetch("/api/freshness", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (f) { if (f && published && f.published_at && f.published_at !== published) location.reload(); })
      .catch(function () {});
  }, 5000);
})();
