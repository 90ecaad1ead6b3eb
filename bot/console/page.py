"""The console chat page (pure string building): the cards, a person picker (dev mode) or a
token login, and a small script that keeps the cards live (the signed-in person's server-sent
events: read with fetch in token mode, since they need the token; EventSource in dev mode) and
sends Approve / Deny without leaving the page. Every interpolated value is HTML-escaped; the
script and style carry the response's CSP nonce.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

__all__ = ["render_page"]

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d1c1d}
header.top{background:#3f0e40;color:#fff;padding:.7rem 1.2rem;display:flex;gap:1rem;
 align-items:center;flex-wrap:wrap}
header.top h1{font-size:1.1rem;margin:0;flex:1}
main{max-width:52rem;margin:1rem auto;padding:0 1rem}
.notice{background:#fff3cd;border:1px solid #e0c96b;padding:.6rem .8rem;border-radius:6px}
.airlock-card{background:#fff;border:1px solid #ddd;border-left:4px solid #e8a33d;
 border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}
.airlock-card--approved{border-left-color:#2eb67d}.airlock-card--denied{border-left-color:#e01e5a}
.airlock-card--expired,.airlock-card--cancelled{border-left-color:#999}
.airlock-card__header h3{display:inline;font-size:1rem;margin:0}
.airlock-card__state{color:#666;font-size:.85rem}
.airlock-card__fields{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem}
.airlock-card__fields dt{font-weight:600}.airlock-card__fields dd{margin:0}
.airlock-card__statement{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap}
.airlock-card__meta{color:#666;font-size:.85rem}
.airlock-card__actions textarea{display:block;width:100%;margin:.3rem 0}
.airlock-card__approve{background:#007a5a;color:#fff;border:0;padding:.4rem 1rem;border-radius:4px}
.airlock-card__deny{background:#e01e5a;color:#fff;border:0;padding:.4rem 1rem;border-radius:4px;
 margin-left:.5rem}
.error{color:#b00020}
"""

_SCRIPT = """
(() => {
  const cfg = JSON.parse(document.getElementById('airlock-config').textContent);
  const cards = document.getElementById('cards');
  const status = document.getElementById('status');
  const token = () => sessionStorage.getItem('airlock_token');
  const auth = () => (token() ? {'Authorization': 'Bearer ' + token()} : {});
  const place = (id, html) => {
    const old = cards.querySelector(`article[data-review-id="${CSS.escape(id)}"]`);
    const box = document.createElement('div'); box.innerHTML = html;
    const card = box.firstElementChild; if (!card) return;
    if (old) old.replaceWith(card); else cards.prepend(card);
  };
  const load = async (id) => {
    const r = await fetch('/chat/cards' + (id ? '/' + encodeURIComponent(id) : ''),
                          {headers: auth()});
    if (!r.ok) { status.textContent = 'cannot load cards (' + r.status + ')'; return; }
    const body = await r.json();
    if (id) { place(body.review_id, body.html); return; }
    cards.innerHTML = body.cards.map(c => c.html).join('');
  };
  document.addEventListener('submit', async (e) => {
    const form = e.target.closest('form.airlock-card__actions'); if (!form) return;
    e.preventDefault();
    const data = new FormData(form);
    const body = {review_id: data.get('review_id'), reason: data.get('reason') || null,
                  action: e.submitter ? e.submitter.value : 'approve'};
    if (cfg.dev) body.as = cfg.actingAs;
    const r = await fetch('/chat/api/decisions', {method: 'POST', body: JSON.stringify(body),
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': cfg.csrf, ...auth()}});
    const answer = await r.json();
    if (!r.ok) alert(answer.error ? answer.error.message : 'refused');
    else load(body.review_id);
  });
  const picker = document.querySelector('form.picker select');
  if (picker) picker.addEventListener('change', () => picker.form.submit());
  const login = document.getElementById('login');
  if (login) login.addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('airlock_token', new FormData(login).get('token').trim());
    load();
  });
  const onCard = (c) => {
    if (c.html) place(c.review_id, c.html); else if (token()) load(c.review_id);
  };
  // Token mode: the stream needs the token too, and EventSource cannot send a header, so it is
  // read with fetch (the same text/event-stream format).
  const stream = async () => {
    if (!token()) return;
    let retry = true;
    try {
      const r = await fetch('/chat/events', {headers: auth()});
      if (!r.ok || !r.body) { retry = r.status !== 401; throw new Error(String(r.status)); }
      status.textContent = 'live';
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const {value, done} = await reader.read(); if (done) break;
        buf += value.replace(/\\r/g, '');
        let end;
        while ((end = buf.indexOf('\\n\\n')) >= 0) {
          const lines = buf.slice(0, end).split('\\n'); buf = buf.slice(end + 2);
          const event = (lines.find(l => l.startsWith('event:')) || '').slice(6).trim();
          const data = lines.filter(l => l.startsWith('data:')).map(l => l.slice(5)).join('\\n');
          if (event === 'card') onCard(JSON.parse(data));
        }
      }
    } catch (e) { /* fall through to the retry */ }
    status.textContent = retry ? 'reconnecting…' : 'sign in to see live cards';
    if (retry) setTimeout(stream, 3000);
  };
  if (!cfg.dev && token()) { load(); stream(); }
  if (login) login.addEventListener('submit', () => setTimeout(stream, 0));
  if (cfg.dev && cfg.actingAs && window.EventSource) {
    const events = new EventSource('/chat/events');
    events.addEventListener('card', (e) => onCard(JSON.parse(e.data)));
    events.onopen = () => { status.textContent = 'live'; };
    events.onerror = () => { status.textContent = 'reconnecting…'; };
  } else if (cfg.dev) {
    setInterval(() => { if (cfg.actingAs) load(); }, 5000);
  }
})();
"""


def _picker(people: Sequence[str], acting_as: str | None) -> str:
    options = "".join(
        f'<option value="{escape(p)}"{" selected" if p == acting_as else ""}>{escape(p)}</option>'
        for p in people
    )
    return (
        '<form method="get" action="/chat" class="picker"><label>Act as '
        f'<select name="as">'
        f'<option value="">— pick a person —</option>{options}</select></label>'
        "<noscript><button>Switch</button></noscript></form>"
    )


_LOGIN = (
    '<form id="login" class="login"><label>Airlock token '
    '<input name="token" type="password" autocomplete="off" required></label>'
    "<button>Sign in</button></form>"
)


def render_page(
    cards: Sequence[str],
    *,
    csrf: str,
    nonce: str,
    dev_people: Sequence[str] | None,
    acting_as: str | None = None,
    notice: str | None = None,
) -> str:
    """The whole page. ``dev_people`` set: dev mode (a picker); None: token login."""
    dev = dev_people is not None
    who = _picker(dev_people, acting_as) if dev_people is not None else _LOGIN
    config = json.dumps({"dev": dev, "csrf": csrf, "actingAs": acting_as}).replace("<", "\\u003c")
    flash = f'<p class="notice" role="status">{escape(notice)}</p>' if notice else ""
    empty = (
        "" if cards else "<p>No reviews yet. Held statements and access requests appear here.</p>"
    )
    body = "".join(cards) if cards else empty
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{escape(csrf)}">'
        f'<title>Airlock chat</title><style nonce="{nonce}">{_STYLE}</style></head><body>'
        f'<header class="top"><h1>🔐 Airlock chat</h1>{who}'
        '<span id="status" aria-live="polite"></span></header>'
        f'<main>{flash}<section id="cards">{body}</section></main>'
        f'<script type="application/json" id="airlock-config">{config}</script>'
        f'<script nonce="{nonce}">{_SCRIPT}</script></body></html>\n'
    )
