"""The corpus generator is deterministic from its seed and caches its directory."""

from __future__ import annotations

from pathlib import Path

from scripts.corpus import generate_corpus, main


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    a = generate_corpus(tmp_path / "a", n_base=6, seed=9)
    b = generate_corpus(tmp_path / "b", n_base=6, seed=9)
    c = generate_corpus(tmp_path / "c", n_base=6, seed=10)
    assert [(e.file, e.sha256) for e in a.entries] == [(e.file, e.sha256) for e in b.entries]
    assert {e.sha256 for e in a.entries}.isdisjoint(e.sha256 for e in c.entries)


def test_a_second_call_reads_the_cache(tmp_path: Path) -> None:
    first = generate_corpus(tmp_path, n_base=4, seed=2)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = generate_corpus(tmp_path, n_base=4, seed=2)
    assert again.entries == first.entries
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps


def test_cli_writes_a_manifest(tmp_path: Path, capsys) -> None:
    main([str(tmp_path), "--n-base", "3", "--seed", "5"])
    assert (tmp_path / "manifest.json").is_file()
    assert "files in" in capsys.readouterr().out
