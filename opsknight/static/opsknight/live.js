/* Live pages: an element marked data-live="incident" (any incident) or data-live="incident:<id>"
   is fetched again when the server says such an incident changed. One websocket per tab; on
   reconnect (or a "resync" from the server) the region is fetched again, so a missed message
   costs nothing. Closed with 4401: the session is gone, so off to the login page. */
"use strict";

(() => {
  const regions = () => Array.from(document.querySelectorAll("[data-live]"));
  if (!regions().length || !("WebSocket" in window)) return;
  let timer = null;
  let delay = 500;

  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const response = await fetch(window.location.href, { headers: { "X-Live-Refresh": "1" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of regions()) {
        const replacement = region.id && fresh.getElementById(region.id);
        if (replacement) region.replaceWith(replacement);
      }
      document.dispatchEvent(new CustomEvent("opsknight:refreshed"));
    }, 150);  // a burst of changes makes one fetch
  };

  const wanted = (message) => {
    if (message.type === "resync") return true;
    if (typeof message.type !== "string" || !message.type.startsWith("incident.")) return false;
    return regions().some((region) => {
      const [kind, id] = region.dataset.live.split(":");
      return kind === "incident" && (!id || Number(id) === message.id);
    });
  };

  const connect = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/ws/live/`);
    let opened = false;
    socket.addEventListener("open", () => { delay = 500; });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "hello") {
        document.documentElement.dataset.live = message.live ? "on" : "degraded";
        if (opened) refresh();  // reconnected: what changed meanwhile?
        opened = true;
      } else if (wanted(message)) {
        refresh();
      }
    });
    socket.addEventListener("close", (event) => {
      document.documentElement.dataset.live = "off";
      if (event.code === 4401) {
        window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
        return;
      }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
    setInterval(() => socket.readyState === 1 && socket.send(JSON.stringify({ type: "ping" })), 25000);
  };
  connect();
})();
