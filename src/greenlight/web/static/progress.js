// A queued or running request's page follows its progress (server-sent events
// from /api/v1/requests/{id}/progress) and reloads when the run has ended.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.EventSource) {
    return;
  }
  var bar = box.querySelector("progress");
  var stage = box.querySelector(".stage");
  var source = new EventSource(box.getAttribute("data-progress-url"));
  source.addEventListener("progress", function (event) {
    var update = JSON.parse(event.data);
    if (update.progress === null) {
      bar.removeAttribute("value");
    } else {
      bar.value = update.progress;
    }
    var words = update.state === "queued" ? "waiting for a worker" : update.state;
    if (update.state === "running" && update.stage) {
      words += ": " + update.stage;
    }
    if (update.attempt > 1) {
      words += " (attempt " + update.attempt + ")";
    }
    if (update.cancel_requested) {
      words += ", stopping";
    }
    stage.textContent = words;
  });
  source.addEventListener("end", function () {
    source.close();
    window.location.reload();
  });
})();
