"""The pages' one script: follow the state without reloading, so what a person opened stays open.

Every `POLL_SECONDS` it asks `/api/live?path=<this page>` for the page's parts and swaps in
those whose digest changed; a `<details>` with an id keeps its open or closed state across
the swap (a full reload, as the old 5-second refresh did, closed them all). A tab in the
background asks nothing until it is shown again. A pause button stops it. The script is
inline and allowed by its hash in the Content-Security-Policy, so a page stays one
self-contained file and no other script can run; without script the page is a static snapshot.

Each update adds one to `data-updates` on the root element and fires `amed:updated`, so a
reader (or a browser test) can wait for the next one instead of for a span of time.
"""

from __future__ import annotations

import base64
import hashlib

POLL_SECONDS = 5

SCRIPT = """(function(){"use strict";
var POLL_MS=POLL_MS_VALUE,paused=false,timer=null,busy=false,root=document.documentElement;
var button=document.getElementById("live-toggle"),state=document.getElementById("live-state");
root.setAttribute("data-updates","0");
function schedule(){clearTimeout(timer);if(!paused){timer=setTimeout(tick,POLL_MS);}}
function swap(el,part){
var open={};
el.querySelectorAll("details[id]").forEach(function(d){open[d.id]=d.open;});
el.innerHTML=part.html;el.setAttribute("data-digest",part.digest);
Object.keys(open).forEach(function(id){var d=document.getElementById(id);
if(d&&d.tagName==="DETAILS"){d.open=open[id];}});}
function apply(parts){var changed=0;
Object.keys(parts).forEach(function(id){var el=document.getElementById(id),part=parts[id];
if(!el||!el.hasAttribute("data-live")||el.getAttribute("data-digest")===part.digest){return;}
swap(el,part);changed++;});return changed;}
function tick(){if(paused||busy){return;}if(document.hidden){schedule();return;}busy=true;
fetch("/api/live?path="+encodeURIComponent(location.pathname+location.search),
{cache:"no-store",credentials:"same-origin"})
.then(function(r){if(!r.ok){throw new Error("HTTP "+r.status);}return r.json();})
.then(function(doc){var n=apply(doc.parts);state.textContent=doc.at+" · live";
root.setAttribute("data-updates",String(Number(root.getAttribute("data-updates"))+1));
document.dispatchEvent(new CustomEvent("amed:updated",{detail:{changed:n}}));})
.catch(function(e){state.textContent="live updates failed ("+e.message+"); retrying";})
.then(function(){busy=false;schedule();});}
button.hidden=false;
button.addEventListener("click",function(){paused=!paused;
button.textContent=paused?"Resume":"Pause";button.setAttribute("aria-pressed",String(paused));
if(paused){clearTimeout(timer);state.textContent="paused";}else{tick();}});
document.addEventListener("visibilitychange",function(){if(!document.hidden){tick();}});
schedule();})();""".replace("POLL_MS_VALUE", str(POLL_SECONDS * 1000))

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
"""The CSP source that lets this script, and only it, run."""

CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src '{SCRIPT_HASH}'; style-src 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
