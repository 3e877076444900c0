"""Product feature names → the contract's event types, by ``feature_kinds`` rules (open vocabulary).

Feature names are kept verbatim: a product has its own, ever-growing vocabulary. Only the coarse event type
(login, api_call, export, invite, feature_use) is derived, so the SQL models can count logins and API calls
whatever the product calls them.
"""

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from seg_pipeline.sources.mappings.model import KindRule

DEFAULT_KIND = "feature_use"
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class _Compiled:
    kind: str
    exact: str | None  # case-folded name, for exact rules
    regex: re.Pattern[str] | None  # globs are translated to an anchored regex; re: rules search anywhere


def _compile(rule: KindRule) -> _Compiled:
    if rule.pattern.startswith("re:"):
        return _Compiled(rule.kind, None, re.compile(rule.pattern[3:], re.IGNORECASE))
    if _GLOB.search(rule.pattern):
        return _Compiled(rule.kind, None, re.compile(fnmatch.translate(rule.pattern.strip()), re.IGNORECASE))
    return _Compiled(rule.kind, rule.pattern.strip().casefold(), None)


class KindClassifier:
    """Classify feature names: an exact rule wins over any pattern, then patterns in file order, else the default."""

    def __init__(self, rules: Sequence[KindRule], default: str = DEFAULT_KIND) -> None:
        """Compile ``rules`` once; names not matched by any rule get ``default``."""
        compiled = [_compile(r) for r in rules]
        self.exact: dict[str, str] = {}
        for c in compiled:
            if c.exact is not None:
                self.exact.setdefault(c.exact, c.kind)
        self.patterns = [(c.kind, c.regex) for c in compiled if c.regex is not None]
        self.default = default
        self._seen: dict[str, str] = {}

    def kind_of(self, name: str) -> str:
        """Return the event type of one feature name (memoised: exports repeat a few dozen names)."""
        found = self._seen.get(name)
        if found is None:
            found = self._classify(name.strip())
            self._seen[name] = found
        return found

    def _classify(self, name: str) -> str:
        folded = name.casefold()
        if folded in self.exact:
            return self.exact[folded]
        for kind, regex in self.patterns:
            if regex.search(name):
                return kind
        return self.default
