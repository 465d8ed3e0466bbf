"""The command line: clear errors with exit codes, no tracebacks for expected failures."""
import pandas as pd

from fission import cli


def test_bad_override_names_the_key(capsys):
    assert cli.main(["-p", "scale.users=5", "data"]) == 2
    err = capsys.readouterr().err
    assert "scale.users" in err and "Traceback" not in err


def test_validate_reports_broken_rule_and_exits_nonzero(tmp_path, capsys):
    pd.DataFrame({"user_id": [1, 1]}).to_csv(tmp_path / "users.csv", index=False)
    before = (tmp_path / "users.csv").read_bytes()
    assert cli.main(["validate", str(tmp_path)]) != 0
    out = capsys.readouterr().out
    assert "users" in out and "missing" in out.lower()
    assert (tmp_path / "users.csv").read_bytes() == before


def test_run_without_staged_data_says_make_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "STAGED", tmp_path)
    assert cli.main(["run"]) == 2
    assert "make data" in capsys.readouterr().err


def test_override_after_the_command(capsys):
    assert cli.main(["report", "-p", "scale.users=5"]) == 2
    assert "scale.users" in capsys.readouterr().err


def test_unknown_chapter_is_one_clear_line(capsys, monkeypatch, tmp_path):
    from fission.data import staging
    monkeypatch.setattr(staging, "read_manifest", lambda d: {"fingerprint": "x"})
    assert cli.main(["run", "--chapters", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "Traceback" not in err
