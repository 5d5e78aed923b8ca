// Tollgate dashboard behaviour: copy buttons, confirmations, the key dialog, the
// access-rule editor and checkbox-driven field toggles. No framework, no network.
(function () {
  "use strict";

  function copy(text, button) {
    var done = function () {
      var old = button.textContent;
      button.textContent = "Copied!";
      setTimeout(function () { button.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "absolute";
    ta.style.left = "-9999px";
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(ta);
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (b) { copy(b.getAttribute("data-copy"), b); return; }
    var close = ev.target.closest(".close-dialog");
    if (close) {
      var d = close.closest("dialog");
      if (d) { d.close(); d.remove(); }
      return;
    }
    var rm = ev.target.closest(".remove-rule");
    if (rm) { rm.closest("tr").remove(); syncRules(); }
  });

  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { ev.preventDefault(); }
  });

  // Checkboxes with data-toggles disable the named block while checked ("Disable
  // rate limiting", "Unlimited requests", "Administrator").
  function applyToggle(cb) {
    var el = document.getElementById(cb.getAttribute("data-toggles"));
    if (!el) return;
    var off = cb.checked;
    el.querySelectorAll("input, select").forEach(function (i) { i.disabled = off; });
    el.classList.toggle("muted", off);
  }
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-toggles]")) applyToggle(ev.target);
  });

  function syncRules() {
    var rules = document.querySelectorAll("#rules tbody tr.rule");
    var none = document.getElementById("no-rules");
    if (none) none.hidden = rules.length > 0;
  }

  function addRule() {
    var sel = document.getElementById("api_select");
    var id = sel.value;
    if (!id) { sel.focus(); return; }
    if (document.querySelector('#rules input[name="api"][value="' + CSS.escape(id) + '"]')) { return; }
    var opt = sel.options[sel.selectedIndex];
    var row = document.getElementById("rule-template").content.firstElementChild.cloneNode(true);
    row.querySelector(".rule-name").textContent = opt.getAttribute("data-name");
    row.querySelector(".rule-id").textContent = id;
    row.querySelector('input[name="api"]').value = id;
    var v = row.querySelector(".rule-versions");
    v.name = "versions_" + id;
    v.id = "versions-" + id;
    v.value = opt.getAttribute("data-versions") || "Default";
    row.querySelector("label").setAttribute("for", v.id);
    document.querySelector("#rules tbody").appendChild(row);
    sel.value = "";
    syncRules();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var add = document.getElementById("add_rule");
    if (add) add.addEventListener("click", addRule);
    document.querySelectorAll("[data-toggles]").forEach(applyToggle);
    var dlg = document.getElementById("created");
    if (dlg) {
      if (dlg.open && dlg.showModal) { dlg.close(); dlg.showModal(); }
      var btn = document.getElementById("copy-key");
      if (btn) btn.focus();
    }
  });
})();
