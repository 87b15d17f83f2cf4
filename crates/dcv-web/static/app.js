// Follows a running check: each probe as it starts and finishes, then the
// report (the page reloads once the check's status is final). Served as a
// file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var list = document.getElementById("progress");
  if (!list || !window.EventSource) {
    return;
  }
  var id = list.getAttribute("data-check");
  var status = document.getElementById("status");
  var source = new EventSource("/api/v1/checks/" + encodeURIComponent(id) + "/events");

  function line(probe) {
    var items = list.querySelectorAll("li");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-probe") === probe) {
        return items[i];
      }
    }
    var li = document.createElement("li");
    li.setAttribute("data-probe", probe);
    list.appendChild(li);
    return li;
  }

  source.addEventListener("probe_started", function (e) {
    var d = JSON.parse(e.data);
    var li = line(d.probe);
    li.className = "running";
    li.textContent = d.label + ": running";
  });
  source.addEventListener("probe_finished", function (e) {
    var d = JSON.parse(e.data);
    var li = line(d.probe);
    li.className = "finished";
    li.textContent = d.label + ": done at " + d.at_ms + " ms";
  });
  source.addEventListener("status", function (e) {
    var d = JSON.parse(e.data);
    if (status) {
      status.textContent = d.status;
      status.className = "status " + d.status;
    }
    if (d.status === "done" || d.status === "refused" || d.status === "failed") {
      source.close();
      window.location.reload();
    }
  });
  source.onerror = function () {
    // The stream ended or broke: show whatever the server has now.
    source.close();
    window.setTimeout(function () { window.location.reload(); }, 1500);
  };
})();
