/* Every page: install the service worker (offline shell, push notifications). */
"use strict";
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error) => {
    console.warn("OpsKnight: service worker not registered", error);
  });
}
