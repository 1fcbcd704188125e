"""Arch surrogate, FLOPs and params against every row of the HW-GPT-Bench reference CSVs.

Also checks the torch-free npz cache: conversion happens once, stale or
corrupt caches are replaced, and the package never imports torch.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gymnasium_llmconfig.data.sources import sha256_of
from gymnasium_llmconfig.tasks.arch import formulas
from gymnasium_llmconfig.tasks.arch.space import ArchConfigSpace
from gymnasium_llmconfig.tasks.arch.surrogate import (
    encode_inputs,
    load_surrogate,
    npz_cache_path,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SCALES = ("s", "m", "l")
FIELDS = ("embed_dim", "n_layer", "heads", "mlp_ratios", "bias")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arch_npz")


def read_reference(data_dir: Path, scale: str) -> list[dict[str, str]]:
    with open(data_dir / f"reference_{scale}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["scale"] == scale for r in rows)
    return rows


@pytest.mark.parametrize("scale", SCALES)
def test_every_reference_row(scale: str, data_dir: Path, cache_dir: Path) -> None:
    space = ArchConfigSpace(scale)
    surrogate = load_surrogate(scale, data_dir / f"perplexity_{scale}.pt", cache_dir)
    rows = read_reference(data_dir, scale)
    # The CSV form (JSON-string lists, "True"/"False") goes through canonicalize as an agent's would.
    configs = [space.canonicalize({k: r[k] for k in FIELDS}) for r in rows]
    want_ppl = np.array([float(r["perplexity"]) for r in rows])
    want_params = [int(r["params"]) for r in rows]
    want_flops = [int(r["flops"]) for r in rows]

    batch = space.to_batch(configs)
    batched = surrogate.predict_batch(batch).astype(np.float64)
    single = np.array([surrogate.predict(c) for c in configs])
    assert np.max(np.abs(batched / want_ppl - 1)) < 1e-5
    assert np.max(np.abs(single / want_ppl - 1)) < 1e-5
    # float64 accumulation makes a single query and a batch agree bit for bit.
    np.testing.assert_array_equal(single, batched)

    assert batch.params().tolist() == want_params
    assert batch.flops().tolist() == want_flops
    for c, p, fl in zip(configs, want_params, want_flops, strict=True):
        assert formulas.param_count(c["embed_dim"], c["heads"], c["mlp_ratios"]) == p
        assert formulas.flops(c["embed_dim"], c["heads"], c["mlp_ratios"]) == fl


@pytest.mark.parametrize("scale", SCALES)
def test_input_encoding_matches_examples(scale: str, data_dir: Path) -> None:
    space = ArchConfigSpace(scale)
    examples = json.loads((data_dir / "encoding_examples.json").read_text())[scale]
    batch = space.to_batch([space.canonicalize({k: e[k] for k in FIELDS}) for e in examples])
    x = encode_inputs(batch)
    assert x.shape == (len(examples), 8 + 6 * space.lmax)
    for row, e in zip(x, examples, strict=True):
        np.testing.assert_array_equal(row, np.asarray(e["input_vector"], dtype=np.float64))


def test_spec_worked_example() -> None:
    assert formulas.param_count(192, [4] * 10, [2] * 10) == 23_502_720
    assert formulas.flops(192, [4] * 10, [2] * 10) == 64_239_697_920
    assert formulas.param_count(384, [4, 8, 12] * 3 + [4, 8], [4, 3, 2] * 3 + [4, 3]) == 61_961_472
    for scale, params, fl in (
        ("s", 190_594_560, 467_647_070_208),
        ("m", 505_993_216, 1_242_432_536_576),
        ("l", 1_073_154_560, 2_584_367_595_520),
    ):
        space = ArchConfigSpace(scale)
        n, h = space.lmax, space.spec.heads[-1]
        assert formulas.param_count(space.spec.embed_dims[-1], [h] * n, [4] * n) == params
        assert space.max_flops == fl


def test_npz_cache_is_reused_and_stale_one_replaced(data_dir: Path, tmp_path: Path) -> None:
    pt = data_dir / "perplexity_s.pt"
    first = load_surrogate("s", pt, tmp_path)
    path = npz_cache_path(tmp_path, "s")
    with np.load(path) as z:
        assert str(z["source_sha256"]) == sha256_of(pt)
    # Cache-only load (no .pt) works for a pinned file.
    again = load_surrogate("s", None, tmp_path)
    cfg = ArchConfigSpace("s").sample(np.random.default_rng(0))
    assert again.predict(cfg) == first.predict(cfg)

    # A stale cache (other source sha) is ignored and rewritten.
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["source_sha256"] = np.str_("0" * 64)
    arrays["fc5_bias"] = arrays["fc5_bias"] + 100.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    fresh = load_surrogate("s", pt, tmp_path)
    assert fresh.predict(cfg) == first.predict(cfg)
    with np.load(path) as z:
        assert str(z["source_sha256"]) == sha256_of(pt)

    # A corrupt cache is replaced too; no temp files are left behind.
    path.write_bytes(b"not an npz")
    assert load_surrogate("s", pt, tmp_path).predict(cfg) == first.predict(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"perplexity_m\.pt"):
        load_surrogate("m", tmp_path / "missing.pt", tmp_path)
    bogus = tmp_path / "perplexity_m.pt"
    bogus.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="sha256"):
        load_surrogate("m", bogus, tmp_path)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_package_import_does_not_import_torch() -> None:
    proc = _run_python(
        """
        import sys
        import gymnasium_llmconfig.tasks.arch
        import gymnasium_llmconfig.tasks.arch.problem, gymnasium_llmconfig.tasks.arch.surrogate
        assert "torch" not in sys.modules, "torch was imported"
        """
    )
    assert proc.returncode == 0, proc.stderr


def test_cached_surrogate_runs_without_torch(data_dir: Path, tmp_path: Path) -> None:
    load_surrogate("s", data_dir / "perplexity_s.pt", tmp_path)  # conversion (torch) in this process
    proc = _run_python(
        f"""
        import sys
        sys.modules["torch"] = None  # any import of torch now fails
        from pathlib import Path
        import numpy as np
        from gymnasium_llmconfig.tasks.arch import ArchConfigSpace, load_surrogate
        sur = load_surrogate("s", Path({str(data_dir / "perplexity_s.pt")!r}), Path({str(tmp_path)!r}))
        print(sur.predict(ArchConfigSpace("s").sample(np.random.default_rng(0))))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert 15 < float(proc.stdout.strip()) < 50


def test_missing_torch_on_first_conversion_is_explained(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'gymnasium-llmconfig\[arch\]'"):
        load_surrogate("m", data_dir / "perplexity_m.pt", tmp_path / "fresh-cache")
