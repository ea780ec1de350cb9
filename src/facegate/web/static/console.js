// facegate console: small progressive enhancements; every page works without this file.
"use strict";

// Live progress: an element with data-progress-url is refreshed from that JSON URL
// (video jobs) until the job has ended.
function watchProgress(element) {
  const url = element.dataset.progressUrl;
  const bar = element.querySelector("progress");
  const text = element.querySelector("[data-progress-text]");
  const status = element.querySelector("[data-progress-status]");
  async function tick() {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return;
      const job = await response.json();
      const p = job.Progress || {};
      if (bar) bar.value = p.Percent || 0;
      if (text) text.textContent = `${p.Percent || 0}% (${p.FramesDone || 0}/${p.FramesTotal || 0} frames)`;
      if (status) status.textContent = job.JobStatus;
      if (job.JobStatus === "IN_PROGRESS") setTimeout(tick, 1000);
    } catch (e) {
      setTimeout(tick, 3000);
    }
  }
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-progress-url]").forEach(watchProgress);
  // A button with data-confirm asks before its form is sent.
  document.querySelectorAll("[data-confirm]").forEach((button) => {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  });
});
