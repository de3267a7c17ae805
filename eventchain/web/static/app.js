// Countdowns tick from the server's clock (data-seconds at render time). The desk asks
// /api/desk/live twice a second and swaps in its waiting list when it changes (the count goes
// in the title, an optional sound plays); other pages reload when the analyst snapshot is
// republished (polls /api/freshness). A submitted form is sent once.
(function () {
  const english = document.querySelector("html").lang === "en";
  const words = english
    ? { left: "left", overdue: "overdue", d: "d", h: "h", m: "min" }
    : { left: "剩余", overdue: "已超时", d: "天", h: "小时", m: "分钟" };
  const baseTitle = document.title;
  let rendered = Date.now();

  function duration(seconds) {
    const minutes = Math.floor(Math.abs(seconds) / 60);
    const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return days + words.d + hours + words.h;
    if (hours) return hours + words.h + mins + words.m;
    return mins + words.m;
  }
  function tick() {
    document.querySelectorAll(".countdown[data-seconds]").forEach(function (el) {
      const seconds = Number(el.dataset.seconds) - Math.round((Date.now() - rendered) / 1000);
      el.textContent = (seconds >= 0 ? words.left : words.overdue) + " " + duration(seconds);
      el.classList.toggle("late", seconds < 0);
    });
  }
  tick();
  setInterval(tick, 1000);

  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    });
  });

  if (!document.querySelector("#who")) return;
  function soundSwitch() {
    const sound = document.querySelector("#sound");
    if (!sound) return;
    sound.checked = localStorage.getItem("eventchain.sound") === "1";
    sound.addEventListener("change", function () { localStorage.setItem("eventchain.sound", sound.checked ? "1" : "0"); });
  }
  soundSwitch();
  function beep() {
    if (localStorage.getItem("eventchain.sound") !== "1" || !window.AudioContext) return;
    const audio = new AudioContext(), tone = audio.createOscillator();
    tone.connect(audio.destination);
    tone.frequency.value = 880;
    tone.start();
    tone.stop(audio.currentTime + 0.2);
  }
  function showCount() {
    const total = document.querySelector("#waiting-total");
    const n = total ? Number(total.textContent) : 0;
    document.title = (n ? "(" + n + ") " : "") + baseTitle;
  }

  const desk = document.querySelector("#waiting-card");
  if (desk) {
    showCount();
    let last = null, busy = false;
    setInterval(function () {
      if (busy) return;
      busy = true;
      fetch("/api/desk/live", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (live) {
          if (!live) return null;
          const key = live.waiting.slice().sort().join(",");
          if (last === null) { last = key; return null; }
          if (key === last) return null;
          const grew = live.waiting.some(function (id) { return last.indexOf(id) < 0; });
          last = key;
          return fetch(location.pathname + "?" + new URLSearchParams(Object.assign(
            Object.fromEntries(new URLSearchParams(location.search)), { live: "1" })), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) {
              if (!html) return;
              const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#waiting-card");
              if (!fresh) return;
              desk.innerHTML = fresh.innerHTML;
              rendered = Date.now();
              soundSwitch();
              tick();
              showCount();
              if (grew) beep();
            });
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, 500);
    return;
  }

  const published = document.body.dataset.published;
  setInterval(function () {
    if (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
    if (document.querySelector("details[open]")) return;
    fetch("/api/freshness", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (f) { if (f && published && f.published_at && f.published_at !== published) location.reload(); })
      .catch(function () {});
  }, 5000);
})();
