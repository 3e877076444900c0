"""The page's account-manager and segment filter: ``?am=<id or name>`` and ``?segment=<id>`` in the URL.

The dashboard is one static file, so the per-AM view is the same page with the rows of other AMs hidden in the
browser (tables whose rows carry ``data-am`` / ``data-segment``). A digest links to ``…/dashboard.html?am=<id>``;
changing a filter rewrites the URL, so the view can be bookmarked and shared. Charts stay company-wide.
"""

import html
from collections.abc import Sequence

AM_SELECT = "filter-am"
SEGMENT_SELECT = "filter-segment"
BANNER = "filter-banner"

# Plain ES5, no library: runs offline, in any browser the page supports.
SCRIPT_TEMPLATE = """
(function(){
  var am = document.getElementById('%(am)s'), seg = document.getElementById('%(seg)s');
  var banner = document.getElementById('%(banner)s');
  var q = new URLSearchParams(window.location.search);
  function pick(sel, wanted) {
    if (!wanted) { return true; }
    for (var i = 0; i < sel.options.length; i++) {
      var o = sel.options[i];
      if (o.value === wanted || o.text === wanted) { sel.value = o.value; return true; }
    }
    return false;
  }
  var unknown = [];
  if (!pick(am, q.get('am'))) { unknown.push('account manager ' + q.get('am')); }
  if (!pick(seg, q.get('segment'))) { unknown.push('segment ' + q.get('segment')); }
  function apply(write) {
    var a = am.value, s = seg.value;
    document.querySelectorAll('tr[data-am], tr[data-segment]').forEach(function(tr) {
      var okA = !a || !tr.hasAttribute('data-am') || tr.getAttribute('data-am') === a;
      var okS = !s || !tr.hasAttribute('data-segment') || tr.getAttribute('data-segment') === s;
      tr.hidden = !(okA && okS);
    });
    document.querySelectorAll('table.filterable').forEach(function(t) {
      var shown = t.querySelectorAll('tbody tr:not([hidden])').length;
      var empty = t.nextElementSibling;
      if (empty && empty.classList.contains('filter-empty')) { empty.hidden = shown > 0; }
    });
    var parts = [];
    if (a) {
      var row = document.querySelector('tr.am-row[data-am="' + a.replace(/"/g, '\\\\"') + '"]');
      parts.push('Account manager ' + am.options[am.selectedIndex].text +
        (row ? ': ' + row.getAttribute('data-summary') : ''));
    }
    if (s) { parts.push('segment ' + seg.options[seg.selectedIndex].text); }
    var msg = parts.length ? 'Showing ' + parts.join(' · ') + ' (charts are company-wide)' : '';
    if (unknown.length) { msg = 'No ' + unknown.join(' and ') + ' on this page. ' + msg; }
    banner.textContent = msg;
    banner.hidden = !msg;
    if (write) {
      var p = new URLSearchParams(window.location.search);
      if (a) { p.set('am', a); } else { p.delete('am'); }
      if (s) { p.set('segment', s); } else { p.delete('segment'); }
      var qs = p.toString();
      history.replaceState(null, '', window.location.pathname + (qs ? '?' + qs : '') + window.location.hash);
    }
  }
  am.addEventListener('change', function(){ unknown = []; apply(true); });
  seg.addEventListener('change', function(){ unknown = []; apply(true); });
  apply(false);
})();
"""
SCRIPT = SCRIPT_TEMPLATE.replace("%(am)s", AM_SELECT).replace("%(seg)s", SEGMENT_SELECT).replace("%(banner)s", BANNER)


def _options(choices: Sequence[tuple[str, str]], everyone: str) -> str:
    opts = [f'<option value="">{html.escape(everyone)}</option>']
    opts += [f'<option value="{html.escape(v, quote=True)}">{html.escape(label)}</option>' for v, label in choices]
    return "".join(opts)


def filter_bar(ams: Sequence[tuple[str, str]], segments: Sequence[tuple[str, str]]) -> str:
    """Render the two ``<select>``s (``(value, label)`` choices) and the banner saying what is shown."""
    return (
        '<div class="filters">'
        f'<label class="picker">Account manager: <select id="{AM_SELECT}">{_options(ams, "all")}</select></label> '
        f'<label class="picker">Segment: <select id="{SEGMENT_SELECT}">{_options(segments, "all")}</select></label>'
        f'<p id="{BANNER}" class="banner" hidden></p></div>'
    )


def filter_script() -> str:
    """Return the filtering script, placed at the end of the page (after every table it filters).

    Constant text: nothing user-controlled is interpolated into it.
    """
    return f"<script>{SCRIPT}</script>"


def empty_note(text: str) -> str:
    """Shown after a filterable table when the filter hides all its rows."""
    return f'<p class="filter-empty" hidden>{html.escape(text)}</p>'


__all__ = ["AM_SELECT", "BANNER", "SEGMENT_SELECT", "empty_note", "filter_bar", "filter_script"]
