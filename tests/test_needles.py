"""The needles of a regex (literals every match contains) and the eligibility fast path built on them:
the same live rules as searching every rule, on every criteria text of the fixture records."""

from __future__ import annotations

import re

import pytest

from trialfinder.classify import eligibility
from trialfinder.classify.rules.needles import needles
from trialfinder.source.normalize import study_facts


@pytest.mark.parametrize(("pattern", "expected"), [
    ("abc", {"abc"}),
    ("ab+c", {"ab"}),  # (or "bc": "abbc" holds both, not "abc")
    ("a{2,3}bc", {"abc"}),
    ("x?yz", {"yz"}),
    ("a(?:bc|de)f", {"bc", "de"}),
    (r"(?<![a-z0-9])(?:foo|ba[rz])(?![a-z0-9])", {"foo", "ba"}),
    (r"\bps\b", {"ps"}),
    (r"ecog (?P<n>[0-4])", {"ecog "}),
    (r"t\(15;17\)", {"t(15;17)"}),
    (r"who(?= grade)", {"who"}),  # (what a look-ahead needs is not in the match)
    ("(?:ab)?", None),
    ("a|bc", None),  # (a one-letter branch)
    ("(?i)abc", None),  # (flags: not for this reader)
    (r"\1", None),
    ("[a-z]+", None),
])
def test_needles_read_from_the_pattern(pattern, expected):
    assert needles(pattern) == (frozenset(expected) if expected is not None else None)


@pytest.fixture(scope="module")
def criteria_texts(fixture_studies):
    texts = sorted({study_facts(r).eligibility for r in fixture_studies} - {""})
    assert len(texts) > 100
    return texts


@pytest.fixture(scope="module")
def joined(criteria_texts):
    """Each text's criteria as extract() searches them (normalised clauses joined with " ; ")."""
    out = []
    for text in criteria_texts:
        read = [c for c in eligibility.criteria(text) if c.section != "donor"]
        out.append(" ; ".join(clause for c in read for clause in c.clauses))
    return out


def test_every_match_of_every_rule_holds_one_of_its_needles(joined):
    patterns = [rule.regex for rule in eligibility.RULES] + list(eligibility.CUES.values())
    matched = 0
    for regex in patterns:
        found = needles(regex.pattern)
        if found is None:
            continue
        for text in joined:
            for m in regex.finditer(text):
                matched += 1
                assert any(n in m.group() for n in found), (regex.pattern, m.group())
    assert matched > 1000


def test_the_live_rules_of_a_clause_are_those_of_searching_every_rule(joined):
    """Live(text)(field, clause) is exactly: the rules matching the whole text that match the clause."""
    tried = 0
    for text in joined:
        live, reference = eligibility.Live(text), eligibility.live_rules(text)
        for clause in text.split(" ; "):
            for name, rules in reference.items():
                want = [rule for rule in rules if rule.regex.search(clause)]
                assert live(name, clause) == want, (name, clause)
                tried += len(want)
    assert tried > len(joined)


def test_the_needles_leave_most_rules_unsearched(joined):
    """The point of them: on a typical text most rules have no needle there."""
    present = [eligibility._NEEDLES.positions(text).keys() for text in joined]
    searched = sum(eligibility._may_match(rule, p) for p in present for rule in eligibility.RULES)
    assert searched < 0.75 * len(present) * len(eligibility.RULES)


def test_a_pattern_without_needles_is_always_searched(monkeypatch):
    rule = eligibility.Rule("therapy", "x", "any", re.compile(r"[a-z]+ therap|chemo"), "")
    monkeypatch.setitem(eligibility._RULE_NEEDLES, id(rule.regex), needles(rule.regex.pattern))
    assert needles(rule.regex.pattern) == frozenset({" therap", "chemo"})
    assert not eligibility._may_match(rule, {"therap"}) and eligibility._may_match(rule, {"chemo"})
    other = eligibility.Rule("therapy", "y", "any", re.compile(r"[a-z]+|[0-9]"), "")
    monkeypatch.setitem(eligibility._RULE_NEEDLES, id(other.regex), needles(other.regex.pattern))
    assert eligibility._may_match(other, set())


def test_every_match_of_every_treatment_form_holds_one_of_its_needles(fixture_studies):
    """The forms table (classify/rules/forms.csv), searched by categories.find only where a needle is."""
    from trialfinder.classify.categories import _form_needles
    from trialfinder.classify.rules import norm_text
    from trialfinder.classify.rules.vocabulary import vocabulary

    texts = set()
    for record in fixture_studies:
        facts = study_facts(record)
        texts |= {norm_text(t) for t in (facts.title, facts.official_title, facts.brief_summary)}
        texts |= {norm_text(f"{i.name} ; {i.description}") for i in facts.interventions}
        texts |= {norm_text(a.description) for a in facts.arm_groups}
    _, found = _form_needles()
    matched = 0
    for form, needed in zip(vocabulary().forms, found, strict=True):
        assert needed is not None, form.regex.pattern  # (else it is always searched: right, but slow)
        for text in texts:
            for m in form.regex.finditer(text):
                matched += 1
                assert any(n in m.group() for n in needed), (form.regex.pattern, m.group())
    assert matched > 100
