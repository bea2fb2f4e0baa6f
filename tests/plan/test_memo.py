"""What a pass remembers for the next (`Decision.memo`): taken only for the same declarations
under the same code digest; with any other, the answer is the one given without a memo.
(Every case table also decides with memos, in `world.check`.)"""

from __future__ import annotations

from amed.plan.decide import decide, decide_in_full
from amed.plan.facts import Facts
from spec import load_text
from tests.plan.world import NOW, build, declared, finished, running, stored, told

SPEC = """
projectname: p
dataSets:
  - name: mnist
    path: ./data
    task:
      executor: !custom {{command: {command}}}
"""
MNIST = load_text(SPEC.format(command="make data"))
EDITED = load_text(SPEC.format(command="make better data"))


def test_a_memo_of_other_declarations_is_not_taken() -> None:
    observed = build(MNIST, [stored("mnist")]).observed()
    facts = Facts(now=NOW)
    memo = decide_in_full(MNIST, observed, facts).memo
    assert decide_in_full(MNIST, observed, facts, memo).actions == []
    without = decide(EDITED, observed, facts)
    assert "produce mnist v2 (spec changed)" in [told(a) for a in without]
    assert decide_in_full(EDITED, observed, facts, memo).actions == without


def test_a_memo_under_another_code_digest_is_not_taken() -> None:
    steps = [declared("mnist"), running("mnist"), finished("mnist", content="c1", code="one")]
    observed = build(MNIST, steps).observed()
    memo = decide_in_full(MNIST, observed, Facts(now=NOW, code_digest="one")).memo
    assert decide_in_full(MNIST, observed, Facts(now=NOW, code_digest="one"), memo).actions == []
    changed = Facts(now=NOW, code_digest="two")
    without = decide(MNIST, observed, changed)
    assert [told(a) for a in without] == ["produce mnist v2 (code changed)"]
    assert decide_in_full(MNIST, observed, changed, memo).actions == without
