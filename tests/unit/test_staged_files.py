"""A run's files written under temporary names and renamed together (predict/artifacts.py
``StagedFiles``): a readable copy that already holds its bytes is left as it is."""

from __future__ import annotations

from predict.artifacts import StagedFiles


def test_a_file_holding_its_bytes_already_is_not_rewritten(tmp_path):
    same, changed = tmp_path / "model_ADAETH.json", tmp_path / "scaler_ADAETH.json"
    same.write_bytes(b'{"layers": 2}')
    changed.write_bytes(b'{"mean": [1.0]}')
    stale = tmp_path / ".model_ADAETH.tmp-1-2.json"  # a killed run's leftover
    stale.write_bytes(b"torn")
    inodes = same.stat().st_ino, changed.stat().st_ino
    staged = StagedFiles(durable=False)
    assert staged.stage_bytes(same, b'{"layers": 2}') is None
    assert staged.stage_bytes(changed, b'{"mean": [2.0]}') is not None
    staged.commit()
    assert same.read_bytes() == b'{"layers": 2}' and same.stat().st_ino == inodes[0]
    assert changed.read_bytes() == b'{"mean": [2.0]}' and changed.stat().st_ino != inodes[1]
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [same.name, changed.name]


def test_a_missing_file_is_written(tmp_path):
    final = tmp_path / "models" / "model_ADAETH.json"
    staged = StagedFiles()
    assert staged.stage_bytes(final, b"{}") is not None
    assert not final.exists()  # not before the commit
    staged.commit()
    assert final.read_bytes() == b"{}"
