"""What a user types into the cluster path: episode labels, ``--address``, ``--set`` (no OpenRLHF needed)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gymnasium_llmconfig.errors import InvalidArgument
from gymnasium_llmconfig.lab.train.openrlhf.episodes import EpisodeLabel
from gymnasium_llmconfig.lab.train.openrlhf.flags import Flag, read_flags
from gymnasium_llmconfig.lab.train.openrlhf.launch import check_address, command_flags, parse_overrides

ACCEPTED = {f.name: f for f in (Flag("--actor.adam.lr", False, False), Flag("--train.colocate_all", True, False),
                                Flag("--actor.adam.betas", False, True))}
words = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@given(env_id=words, budget=st.integers(1, 50), seed=st.integers(0, 2**31),
       kwargs=st.dictionaries(words.filter(lambda k: k not in ("env_id", "budget", "seed")),
                              st.one_of(st.integers(), words, st.lists(words, max_size=3)), max_size=3))
def test_labels_round_trip_through_json(env_id, budget, seed, kwargs):
    label = EpisodeLabel(env_id, budget, seed, kwargs)
    assert EpisodeLabel.parse(label.to_json()) == label
    assert EpisodeLabel.parse(json.loads(label.to_json())) == label


@pytest.mark.parametrize("text", ["", "null", "[1, 2]", '{"env_id": "x", "budget": 1}', "{not json"])
def test_bad_labels_name_what_a_label_needs(text):
    with pytest.raises(InvalidArgument, match="label"):
        EpisodeLabel.parse(text)


@given(st.text(max_size=40))
def test_any_address_text_is_accepted_or_refused_with_one_message(text):
    try:
        check_address(text, reach=False)
    except InvalidArgument as exc:
        assert "is not a Ray cluster address" in str(exc)


@pytest.mark.parametrize("address", ["auto", "10.0.0.1:6379", "head-node.local:6379", "ray://head:10001",
                                     "http://127.0.0.1:8265", "https://ray.example.org:443/", "[::1]:6379"])
def test_the_address_forms_ray_job_submit_takes_are_accepted(address):
    check_address(address, reach=False)


def test_overrides_replace_add_and_remove_flags():
    defaults = {"--actor.adam.lr": "1e-6", "--train.colocate_all": True}
    overrides = parse_overrides(["actor.adam.lr=3e-6", "--train.colocate_all=false", "actor.adam.betas=0.9 0.99"],
                                ACCEPTED, "entry")
    assert command_flags(defaults, overrides, ACCEPTED, "entry") == {
        "--actor.adam.lr": "3e-6", "--actor.adam.betas": ["0.9", "0.99"]}


def test_read_flags_expands_loops_and_knows_switches():
    source = (
        "import argparse\np = argparse.ArgumentParser()\n"
        "p.add_argument('--a.b', type=int)\np.add_argument('--on', action='store_true')\n"
        "for prefix in ('actor', 'critic'):\n    p.add_argument(f'--{prefix}.lr', nargs=2)\n"
    )
    assert read_flags(source) == {"--a.b": Flag("--a.b", False, False), "--on": Flag("--on", True, False),
                                  "--actor.lr": Flag("--actor.lr", False, True),
                                  "--critic.lr": Flag("--critic.lr", False, True)}


@given(st.lists(st.text(max_size=30), max_size=4))
def test_any_set_text_becomes_flags_or_one_message(items):
    try:
        overrides = parse_overrides(items, ACCEPTED, "entry")
    except InvalidArgument as exc:
        assert "--set" in str(exc) or "is not a flag of entry" in str(exc)
    else:
        assert set(overrides) <= set(ACCEPTED)
