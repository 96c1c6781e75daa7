"""Clinical knowledge: the versioned data in `knowledge/`, validated, cross-checked and indexed.

`schema` and `cards` give the shape of each file, `checks` the cross-file checks run at load,
`index` the lookup tables, `base` the typed view rules and card builders read, `params` the
typed rule parameters (knowledge keys typed as such), and `loader` reads a directory into it.
No clinical content lives in this package.
"""

from __future__ import annotations

from hooks.knowledge.base import KnowledgeBase
from hooks.knowledge.loader import DEFAULT_DIR, content_digest, load_knowledge
from hooks.knowledge.schema import KnowledgeError

__all__ = ["DEFAULT_DIR", "KnowledgeBase", "KnowledgeError", "content_digest", "load_knowledge"]
